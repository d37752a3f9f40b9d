/// A growable FIFO ring buffer of values. Not thread-safe; amortised O(1), no allocation once
/// it has grown to its working size. The capacity is a power of two (indices wrap with a mask),
/// and elements move in and out without reference counting.
struct Ring<Element> {
  private var storage: [Element?]
  private var head = 0
  private(set) var count = 0

  init(capacity: Int = 16) {
    var c = 1
    while c < capacity { c <<= 1 }
    storage = Array(repeating: nil, count: c)
  }

  private var mask: Int { storage.count - 1 }

  var isEmpty: Bool { count == 0 }

  mutating func append(_ e: Element) {
    if count == storage.count { grow() }
    storage[(head + count) & mask] = e
    count += 1
  }

  var peekFirst: Element? { count > 0 ? storage[head] : nil }

  mutating func popFirst() -> Element? {
    guard count > 0 else { return nil }
    let e = storage[head].take()
    head = (head + 1) & mask
    count -= 1
    return e
  }

  /// Removes every element for which `shouldRemove` is true, keeping the order of the rest.
  mutating func removeAll(where shouldRemove: (Element) -> Bool) {
    var kept = Ring(capacity: storage.count)
    while let e = popFirst() { if !shouldRemove(e) { kept.append(e) } }
    self = kept
  }

  private mutating func grow() {
    var bigger: [Element?] = Array(repeating: nil, count: storage.count * 2)
    for i in 0..<count { bigger[i] = storage[(head + i) & mask].take() }
    storage = bigger
    head = 0
  }
}

extension Ring: Sendable where Element: Sendable {}
