import CStorportShim

/// One bit per block: set when written, cleared when deallocated (thin provisioning, GET LBA
/// STATUS). 1 bit per block is 0.003 % of a 4 KiB-block store.
final class MappedBitmap: @unchecked Sendable {
  private let words: UnsafeMutablePointer<UInt64>
  private let count: Int

  init(blocks: UInt64) {
    count = Int((blocks + 63) / 64)
    words = .allocate(capacity: max(1, count))
    words.initialize(repeating: 0, count: max(1, count))
  }

  deinit { words.deallocate() }

  var bytes: Int { count * 8 }

  func set(_ lba: UInt64, _ n: Int) { update(lba, n, set: true) }
  func clear(_ lba: UInt64, _ n: Int) { update(lba, n, set: false) }

  func isSet(_ lba: UInt64) -> Bool {
    (storport_load64_relaxed(words + Int(lba / 64)) >> (lba % 64)) & 1 == 1
  }

  private func update(_ lba: UInt64, _ n: Int, set: Bool) {
    var b = lba
    let end = lba + UInt64(n)
    while b < end {
      let word = Int(b / 64)
      let first = Int(b % 64)
      let take = min(64 - first, Int(end - b))
      let mask: UInt64 = take == 64 ? ~0 : ((1 << UInt64(take)) - 1) << UInt64(first)
      // Read first: a block written again (the common case once a disk is in use) costs no
      // atomic read-modify-write on a line every writer shares.
      let current = storport_load64_relaxed(words + word)
      if set {
        if current & mask != mask { storport_or64(words + word, mask) }
      } else if current & mask != 0 {
        storport_and64(words + word, ~mask)
      }
      b += UInt64(take)
    }
  }
}
