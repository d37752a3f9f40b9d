import CStorportShim

/// CRC-32C (Castagnoli polynomial 0x1EDC6F41, reflected), the checksum of iSCSI header and
/// data digests (RFC 7143 §13.1) and of the workload's verify headers. Computed by the
/// SSE4.2 CRC32 instruction when the processor has it, otherwise by table.
///
///     CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283
public enum CRC32C {
  /// The checksum of `count` bytes at `bytes`, continuing `crc` (0 to start).
  @inlinable
  public static func update(_ crc: UInt32, _ bytes: UnsafeRawPointer?, count: Int) -> UInt32 {
    storport_crc32c_update(crc, bytes, count)
  }

  public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
    update(0, bytes.baseAddress, count: bytes.count)
  }

  public static func checksum(_ bytes: [UInt8]) -> UInt32 {
    bytes.withUnsafeBytes { checksum($0) }
  }

  /// The table implementation, always (tests compare it with the accelerated one).
  public static func softwareChecksum(_ bytes: [UInt8]) -> UInt32 {
    bytes.withUnsafeBytes { storport_crc32c_software_update(0, $0.baseAddress, $0.count) }
  }
}
