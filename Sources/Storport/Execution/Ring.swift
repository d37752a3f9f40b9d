/// A growable FIFO ring buffer of values. Not thread-safe; amortised O(1), no allocation once
/// it has grown to its working size. The capacity is a power of two (indices wrap with a mask);
/// elements are moved in and out of raw storage, so a push or a pop is a few instructions: no
/// optional wrapping, no copy-on-write uniqueness check.
///
/// A reference type: it is kept in place by its one owner (a processor's work queues, a
/// request pipeline's flow state), under that owner's lock.
final class Ring<Element> {
  // Touched only under the owner's lock: no dynamic exclusivity checks.
  @exclusivity(unchecked) private var base: UnsafeMutablePointer<Element>
  @exclusivity(unchecked) private var capacity: Int
  @exclusivity(unchecked) private var head = 0
  @exclusivity(unchecked) private(set) var count = 0

  init(capacity: Int = 16) {
    var c = 1
    while c < capacity { c <<= 1 }
    base = .allocate(capacity: c)
    self.capacity = c
  }

  deinit {
    for i in 0..<count { (base + ((head + i) & (capacity - 1))).deinitialize(count: 1) }
    base.deallocate()
  }

  var isEmpty: Bool { @inline(__always) get { count == 0 } }

  @inline(__always)
  func append(_ e: Element) {
    if count == capacity { grow() }
    (base + ((head + count) & (capacity - 1))).initialize(to: e)
    count += 1
  }

  var peekFirst: Element? { count > 0 ? base[head] : nil }

  @inline(__always)
  func popFirst() -> Element? {
    guard count > 0 else { return nil }
    let e = (base + head).move()
    head = (head + 1) & (capacity - 1)
    count -= 1
    return e
  }

  /// Removes every element for which `shouldRemove` is true, keeping the order of the rest.
  func removeAll(where shouldRemove: (Element) -> Bool) {
    let n = count
    for _ in 0..<n {
      let e = popFirst()!
      if !shouldRemove(e) { append(e) }
    }
  }

  @inline(never)
  private func grow() {
    let bigger = UnsafeMutablePointer<Element>.allocate(capacity: capacity * 2)
    for i in 0..<count { (bigger + i).moveInitialize(from: base + ((head + i) & (capacity - 1)), count: 1) }
    base.deallocate()
    base = bigger
    head = 0
    capacity *= 2
  }
}

extension Ring: @unchecked Sendable where Element: Sendable {}
