/// One lock held by a processor's context.
struct HeldLock {
  unowned(unsafe) var lock: SpinLock
  var byPort: Bool
  var serial: UInt64
}

/// The locks a processor's context holds, oldest first: a stack in one buffer the context owns
/// (no copy-on-write check, no reference count, no allocation while fewer than `capacity` are
/// held — the usual depth is one to three: StartIo → DPC → Interrupt).
///
/// Owned by exactly one `Processor.Context`, touched only by that processor's thread; a copy
/// of this value is a view of the same buffer and must not outlive a mutation of the original
/// (read it in place, as `Processor` does). `deallocate()` frees the buffer.
struct HeldLocks: RandomAccessCollection {
  private var base: UnsafeMutablePointer<HeldLock>
  private var capacity: Int
  private(set) var count = 0

  init(capacity: Int = 16) {
    precondition(capacity > 0, "bug in swift-storport: a held-lock stack needs room")
    base = .allocate(capacity: capacity)
    self.capacity = capacity
  }

  var startIndex: Int { 0 }
  var endIndex: Int { count }

  subscript(i: Int) -> HeldLock {
    @inline(__always) get {
      precondition(i >= 0 && i < count, "bug in swift-storport: held-lock index \(i) of \(count)")
      return base[i]
    }
  }

  /// Pushes `lock` (grows the buffer when a miniport holds more locks than it has room for).
  @inline(__always)
  mutating func append(_ lock: HeldLock) {
    if count == capacity { grow() }
    (base + count).initialize(to: lock)
    count += 1
  }

  /// Removes the entry at `i`, keeping the order of the rest (releases out of order are legal).
  @inline(__always)
  mutating func remove(at i: Int) {
    precondition(i >= 0 && i < count, "bug in swift-storport: held-lock index \(i) of \(count)")
    if i != count - 1 {
      (base + i).update(from: base + i + 1, count: count - i - 1)
    }
    count -= 1
  }

  /// Index of the newest entry for `lock`.
  @inline(__always)
  func lastIndex(of lock: SpinLock) -> Int? {
    var i = count - 1
    while i >= 0 {
      if base[i].lock === lock { return i }
      i -= 1
    }
    return nil
  }

  @inline(never)
  private mutating func grow() {
    let bigger = UnsafeMutablePointer<HeldLock>.allocate(capacity: capacity * 2)
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
