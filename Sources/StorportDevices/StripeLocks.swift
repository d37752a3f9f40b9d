import CStorportShim

/// Mutual exclusion by block range for a device or a logical unit: 64 stripes of 32 blocks
/// (stripe = (LBA / 32) mod 64), one futex word each in its own cache line (the C shim's mutex,
/// which ThreadSanitizer sees). A command holds the stripes of its blocks while it touches them,
/// taken in ascending order so two commands never wait on each other in a cycle; a range of
/// 64 stripes or more takes them all.
///
/// Holding never spans a scheduling point (the simulated platform runs one thread at a time and
/// could not hand the stripe's holder the processor), and is never nested.
public final class StripeLocks: @unchecked Sendable {
  /// Blocks per stripe.
  public static let stripeBlocks: UInt64 = 32
  public static let stripeCount = 64
  private let words: UnsafeMutablePointer<UInt32>

  public init() { words = storport_words_alloc(Int32(Self.stripeCount)) }

  deinit { storport_words_free(words) }

  /// The stripes (a bit per stripe) covering blocks [lba, lba + count); `count` ≥ 1 and the
  /// range inside the store (its caller checked it: no overflow).
  public static func mask(lba: UInt64, count: Int) -> UInt64 {
    precondition(count > 0, "bug in swift-storport: an empty block range has no stripes")
    let first = lba / stripeBlocks
    let last = (lba + UInt64(count) - 1) / stripeBlocks
    if last - first + 1 >= UInt64(stripeCount) { return ~0 }
    var mask: UInt64 = 0
    var unit = first
    while unit <= last {
      mask |= 1 << (unit % UInt64(stripeCount))
      unit += 1
    }
    return mask
  }

  /// Runs `body` holding the stripes of blocks [lba, lba + count) (at least one block's).
  @inline(__always)
  public func withExcluded<R, E: Error>(lba: UInt64, count: Int, _ body: () throws(E) -> R) throws(E) -> R {
    let mask = Self.mask(lba: lba, count: max(count, 1))
    forEachWord(of: mask, storport_mutex_lock)
    defer { forEachWord(of: mask, storport_mutex_unlock) }
    return try body()
  }

  /// Calls `body` with the word of each stripe in `mask`, in ascending stripe order.
  @inline(__always)
  private func forEachWord(of mask: UInt64, _ body: (UnsafeMutablePointer<UInt32>) -> Void) {
    var m = mask
    while m != 0 {
      body(storport_word(words, Int32(m.trailingZeroBitCount)))
      m &= m - 1
    }
  }
}
