/// Why a block store refused or failed an operation.
public enum BlockStoreError: Error, Equatable, Sendable {
  /// The range is not inside the store.
  case outOfRange
  /// The operating system reported `errno` (file backing).
  case io(errno: Int32)
  /// The store has no data (null backing) and cannot verify or compare.
  case noData
}

/// Where a logical unit's blocks live: RAM, a file, or nowhere (null). Blocks are
/// `blockSize` bytes, addressed 0..<blockCount. Thread-safe for non-overlapping ranges; the
/// caller (a device or LU) orders overlapping I/O, as real media do not.
public protocol BlockStore: AnyObject, Sendable {
  var blockSize: Int { get }
  var blockCount: UInt64 { get }
  /// Whether data is really stored (false for the null store).
  var holdsData: Bool { get }
  /// Copies `count` blocks from `lba` into `buffer`.
  func read(lba: UInt64, count: Int, into buffer: UnsafeMutableRawPointer) throws(BlockStoreError)
  /// Copies `count` blocks from `buffer` to `lba`; with `forceUnitAccess` the data is durable
  /// when this returns.
  func write(lba: UInt64, count: Int, from buffer: UnsafeRawPointer, forceUnitAccess: Bool)
    throws(BlockStoreError)
  /// Makes every completed write durable (SYNCHRONIZE CACHE / NVMe Flush).
  func flush() throws(BlockStoreError)
  /// Deallocates (UNMAP / Dataset Management): the blocks then read as zeros.
  func deallocate(lba: UInt64, count: Int) throws(BlockStoreError)
  /// Whether `lba` is mapped (written since creation or last deallocation).
  func isMapped(lba: UInt64) -> Bool
}

extension BlockStore {
  /// Bytes in the store.
  public var capacityBytes: UInt64 { blockCount * UInt64(blockSize) }

  @inline(__always)
  func check(_ lba: UInt64, _ count: Int) throws(BlockStoreError) {
    guard count >= 0, lba <= blockCount, UInt64(count) <= blockCount - lba else {
      throw .outOfRange
    }
  }
}
