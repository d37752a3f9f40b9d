/// The null backing: accepts every write, returns without touching the buffer on reads
/// (fio's null engine). For measuring the I/O path itself; it cannot verify data.
public final class NullStore: BlockStore, Sendable {
  public let blockSize: Int
  public let blockCount: UInt64
  public var holdsData: Bool { false }

  public init(bytes: UInt64, blockSize: Int = 4096) {
    self.blockSize = blockSize
    blockCount = bytes / UInt64(blockSize)
  }

  public func read(lba: UInt64, count: Int, into buffer: UnsafeMutableRawPointer) throws(BlockStoreError) {
    try check(lba, count)
  }
  public func write(lba: UInt64, count: Int, from buffer: UnsafeRawPointer, forceUnitAccess: Bool)
    throws(BlockStoreError)
  { try check(lba, count) }
  public func flush() throws(BlockStoreError) {}
  public func deallocate(lba: UInt64, count: Int) throws(BlockStoreError) { try check(lba, count) }
  public func isMapped(lba: UInt64) -> Bool { false }
}
