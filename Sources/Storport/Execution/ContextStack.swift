/// One lock held by a processor's context.
struct HeldLock {
  unowned(unsafe) var lock: SpinLock
  var byPort: Bool
  var serial: UInt64
}

/// The locks a processor's context holds, oldest first.
typealias HeldLocks = ContextStack<HeldLock>

/// A stack in one buffer its processor's context owns: the locks held (StartIo → DPC →
/// Interrupt, usually one to three) and the callback frames (a DPC, an interrupt nested on it).
/// No copy-on-write check, no reference count, no allocation while fewer than `capacity`
/// entries are on it.
///
/// Owned by exactly one `Processor.Context`, touched only by that processor's thread; a copy
/// of this value is a view of the same buffer and must not outlive a mutation of the original
/// (read it in place, as `Processor` does). `deallocate()` frees the buffer.
struct ContextStack<Element>: RandomAccessCollection {
  private var base: UnsafeMutablePointer<Element>
  private var capacity: Int
  private(set) var count = 0

  init(capacity: Int = 16) {
    precondition(capacity > 0, "bug in swift-storport: a context stack needs room")
    base = .allocate(capacity: capacity)
    self.capacity = capacity
  }

  var startIndex: Int { 0 }
  var endIndex: Int { count }

  subscript(i: Int) -> Element {
    @inline(__always) get {
      precondition(i >= 0 && i < count, "bug in swift-storport: context-stack index \(i) of \(count)")
      return base[i]
    }
    @inline(__always) nonmutating set {
      precondition(i >= 0 && i < count, "bug in swift-storport: context-stack index \(i) of \(count)")
      base[i] = newValue
    }
  }

  /// The newest entry, read in place.
  var last: Element? { @inline(__always) get { count > 0 ? base[count - 1] : nil } }

  /// Pushes `element` (grows the buffer when more are pushed than it has room for).
  @inline(__always)
  mutating func append(_ element: Element) {
    if count == capacity { grow() }
    (base + count).initialize(to: element)
    count += 1
  }

  /// Pops the newest entry.
  @inline(__always)
  mutating func removeLast() {
    precondition(count > 0, "bug in swift-storport: pop of an empty context stack")
    count -= 1
    (base + count).deinitialize(count: 1)
  }

  /// Removes the entry at `i`, keeping the order of the rest (releases out of order are legal).
  @inline(__always)
  mutating func remove(at i: Int) {
    precondition(i >= 0 && i < count, "bug in swift-storport: context-stack index \(i) of \(count)")
    (base + i).deinitialize(count: 1)
    if i != count - 1 {
      (base + i).moveInitialize(from: base + i + 1, count: count - i - 1)
    }
    count -= 1
  }

  @inline(never)
  private mutating func grow() {
    let bigger = UnsafeMutablePointer<Element>.allocate(capacity: capacity * 2)
    bigger.moveInitialize(from: base, count: count)
    base.deallocate()
    base = bigger
    capacity *= 2
  }

  /// Frees the buffer; the value must not be used afterwards.
  mutating func deallocate() {
    base.deinitialize(count: count)
    base.deallocate()
    count = 0
  }
}

extension ContextStack where Element == HeldLock {
  /// Index of the newest entry for `lock`.
  @inline(__always)
  func lastIndex(of lock: SpinLock) -> Int? {
    var i = count - 1
    while i >= 0 {
      if self[i].lock === lock { return i }
      i -= 1
    }
    return nil
  }
}
