#if canImport(Glibc)
  import Glibc
#endif

/// A RAM backing: one anonymous mapping of exactly `blockCount × blockSize` bytes (pages are
/// committed on first write, so an idle disk costs nothing), plus the mapped-block bitmap.
/// Memory: N bytes + N/(8·blockSize) for the bitmap + a fixed object overhead (well under 1 KiB).
public final class RamStore: BlockStore, @unchecked Sendable {
  public let blockSize: Int
  public let blockCount: UInt64
  public var holdsData: Bool { true }
  /// Writes and deallocations are refused (``BlockStoreError/readOnly``): `--readonly`.
  public let isReadOnly: Bool
  private let base: UnsafeMutableRawPointer
  private let length: Int
  private let mapped: MappedBitmap

  /// - Parameters: `bytes` is rounded down to whole blocks; `readOnly`: refuse every change.
  /// - Throws: ``BlockStoreError/system(operation:path:errno:)`` when the mapping cannot be made.
  public init(bytes: UInt64, blockSize: Int = 4096, readOnly: Bool = false) throws(BlockStoreError) {
    isReadOnly = readOnly
    precondition(
      blockSize >= 512 && blockSize.nonzeroBitCount == 1,
      "bug in swift-storport: block size must be a power of two ≥ 512")
    self.blockSize = blockSize
    blockCount = bytes / UInt64(blockSize)
    guard blockCount <= UInt64(Int.max) / UInt64(blockSize) else {
      throw .unusable(path: "RAM", reason: "\(bytes) bytes cannot be mapped")
    }
    length = Int(blockCount) * blockSize
    let p = mmap(
      nil, max(length, 1), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
    guard p != MAP_FAILED, let p else {
      throw .system(operation: "mmap of \(length) bytes", path: "RAM", errno: errno)
    }
    base = p
    mapped = MappedBitmap(blocks: blockCount)
  }

  deinit { munmap(base, max(length, 1)) }

  /// Bytes of bookkeeping beyond the data itself.
  public var overheadBytes: Int { mapped.bytes }

  public func read(lba: UInt64, count: Int, into buffer: UnsafeMutableRawPointer) throws(BlockStoreError) {
    try check(lba, count)
    buffer.copyMemory(from: base + Int(lba) * blockSize, byteCount: count * blockSize)
  }

  public func write(lba: UInt64, count: Int, from buffer: UnsafeRawPointer, forceUnitAccess: Bool)
    throws(BlockStoreError)
  {
    guard !isReadOnly else { throw .readOnly }
    try check(lba, count)
    (base + Int(lba) * blockSize).copyMemory(from: buffer, byteCount: count * blockSize)
    mapped.set(lba, count)
  }

  public func flush() throws(BlockStoreError) {}

  public func deallocate(lba: UInt64, count: Int) throws(BlockStoreError) {
    guard !isReadOnly else { throw .readOnly }
    try check(lba, count)
    memset(base + Int(lba) * blockSize, 0, count * blockSize)
    mapped.clear(lba, count)
  }

  public func isMapped(lba: UInt64) -> Bool { lba < blockCount && mapped.isSet(lba) }
}
