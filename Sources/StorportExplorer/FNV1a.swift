/// FNV-1a, 64 bits: the stable hash of decision lists and traces (stable across processes and
/// runs, unlike `Hasher`, so shard results merge and replays compare).
struct FNV1a {
  private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

  /// Mixes the 8 bytes of `v`, low byte first.
  mutating func mix(_ v: UInt64) {
    var x = v
    for _ in 0..<8 {
      value ^= x & 0xff
      value = value &* 0x100_0000_01b3
      x >>= 8
    }
  }
}
