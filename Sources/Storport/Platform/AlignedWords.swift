import CStorportShim

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#endif

/// A block of 32-bit atomic words, each alone in its own 128-byte-aligned line (futex words,
/// spin-lock words). Heap neighbours cannot share a cache line with them.
final class AlignedWords: @unchecked Sendable {
  let base: UnsafeMutablePointer<UInt32>
  let count: Int

  init(count: Int) {
    self.count = count
    base = storport_words_alloc(Int32(count))
  }

  deinit { storport_words_free(base) }

  @inline(__always)
  subscript(i: Int) -> UnsafeMutablePointer<UInt32> { storport_word(base, Int32(i)) }
}

/// A block of 64-bit counters updated with the shim's atomics (`storport_add64`,
/// `storport_load64_relaxed`), zero at first: an index reaches one, with no object to retain.
final class AtomicCounters: @unchecked Sendable {
  private let base: UnsafeMutablePointer<UInt64>
  let count: Int

  init(count: Int) {
    self.count = count
    base = .allocate(capacity: count)
    base.initialize(repeating: 0, count: count)
  }

  deinit { base.deallocate() }

  @inline(__always)
  subscript(i: Int) -> UnsafeMutablePointer<UInt64> {
    precondition(i >= 0 && i < count, "bug in swift-storport: counter \(i) of \(count)")
    return base + i
  }
}
