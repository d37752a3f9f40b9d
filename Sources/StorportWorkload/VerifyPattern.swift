/// The data `--verify` writes: every block is a pure function of (block index, generation), so
/// a read is checked by regenerating what the last write to that block put there. Generation 0
/// is all zeros (a fresh RAM disk).
enum VerifyPattern {
  @inline(__always)
  static func word(_ index: UInt64, _ generation: UInt32, _ i: Int) -> UInt64 {
    var z = index &* 0x9E37_79B9_7F4A_7C15 ^ UInt64(generation) << 40 ^ UInt64(i)
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  static func fill(_ buffer: UnsafeMutableRawPointer, bytes: Int, index: UInt64, generation: UInt32) {
    let words = buffer.assumingMemoryBound(to: UInt64.self)
    if generation == 0 {
      buffer.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
      return
    }
    for i in 0..<(bytes / 8) { words[i] = word(index, generation, i) }
  }

  /// The first differing byte offset, or nil if the buffer holds the pattern.
  static func firstMismatch(_ buffer: UnsafeRawPointer, bytes: Int, index: UInt64, generation: UInt32) -> Int?
  {
    let words = buffer.assumingMemoryBound(to: UInt64.self)
    for i in 0..<(bytes / 8) {
      let expected = generation == 0 ? 0 : word(index, generation, i)
      if words[i] != expected { return i * 8 }
    }
    return nil
  }
}
