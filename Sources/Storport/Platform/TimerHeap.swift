/// One armed platform timer.
struct TimerEntry: Sendable {
  var deadline: PlatformTime
  /// Arming order; breaks ties so that equal deadlines fire in arming order.
  var sequence: UInt64
  var target: PlatformTimerTarget
  var cookie: UInt64
  /// Processor that will run the expiry, if one will.
  var processor: ProcessorIndex?

  func precedes(_ other: TimerEntry) -> Bool {
    deadline != other.deadline ? deadline < other.deadline : sequence < other.sequence
  }
}

/// A binary min-heap of timers ordered by (deadline, arming order). Not thread-safe: its
/// owner serialises access.
struct TimerHeap: Sendable {
  private var items: [TimerEntry] = []
  private var nextSequence: UInt64 = 0

  var isEmpty: Bool { items.isEmpty }
  var count: Int { items.count }
  var earliestDeadline: PlatformTime? { items.isEmpty ? nil : items[0].deadline }
  var earliest: TimerEntry? { items.first }

  mutating func insert(
    deadline: PlatformTime, target: PlatformTimerTarget, cookie: UInt64, processor: ProcessorIndex? = nil
  ) {
    items.append(
      TimerEntry(
        deadline: deadline, sequence: nextSequence, target: target, cookie: cookie,
        processor: processor))
    nextSequence &+= 1
    var i = items.count - 1
    while i > 0 {
      let parent = (i - 1) / 2
      guard items[i].precedes(items[parent]) else { break }
      items.swapAt(i, parent)
      i = parent
    }
  }

  /// Removes and returns the earliest entry if its deadline is at or before `time`.
  mutating func popDue(at time: PlatformTime) -> TimerEntry? {
    guard let first = items.first, first.deadline <= time else { return nil }
    let last = items.removeLast()
    if !items.isEmpty {
      items[0] = last
      var i = 0
      while true {
        let l = 2 * i + 1
        let r = l + 1
        var m = i
        if l < items.count && items[l].precedes(items[m]) { m = l }
        if r < items.count && items[r].precedes(items[m]) { m = r }
        if m == i { break }
        items.swapAt(i, m)
        i = m
      }
    }
    return first
  }
}
