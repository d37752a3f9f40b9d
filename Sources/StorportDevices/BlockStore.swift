/// Why a block store refused or failed an operation.
public enum BlockStoreError: Error, Equatable, Sendable, CustomStringConvertible {
  /// The range is not inside the store.
  case outOfRange
  /// The operating system refused `operation` (open, pread, fdatasync, …) on `path` with `errno`.
  case system(operation: String, path: String, errno: Int32)
  /// The store has no data (null backing) and cannot verify or compare.
  case noData
  /// The store was opened read-only (`--readonly`, or a workload that only reads).
  case readOnly
  /// The store cannot be set up as asked (a size it cannot have, a file it must not create).
  case unusable(path: String, reason: String)

  /// One line naming the path and the system's message.
  public var description: String {
    switch self {
    case .outOfRange: return "block range outside the store"
    case .system(let op, let path, let e):
      return "\(path): \(op) failed: \(SystemIO.message(e)) (errno \(e))"
    case .noData: return "the store keeps no data"
    case .readOnly: return "the store is read-only"
    case .unusable(let path, let reason): return "\(path): \(reason)"
    }
  }
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
  /// Whether writes are refused (``BlockStoreError/readOnly``); logical units then report
  /// DATA PROTECT, WRITE PROTECTED.
  var isReadOnly: Bool { get }
  /// The last operating-system error of a data operation, with its path (file stores), taken
  /// (cleared) by the caller, for reports: a SCSI MEDIUM ERROR says that something failed,
  /// this says what.
  func takeLastError() -> BlockStoreError?
}

extension BlockStore {
  public var isReadOnly: Bool { false }
  public func takeLastError() -> BlockStoreError? { nil }

  /// Bytes in the store.
  public var capacityBytes: UInt64 { blockCount * UInt64(blockSize) }

  @inline(__always)
  func check(_ lba: UInt64, _ count: Int) throws(BlockStoreError) {
    guard count >= 0, lba <= blockCount, UInt64(count) <= blockCount - lba else {
      throw .outOfRange
    }
  }
}
