import CStorportShim
import Storport
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// A file backing: pread/pwrite on a regular file or a block device, optionally with O_DIRECT
/// (buffers must then be aligned, as pool buffers are). FUA writes and flushes end with
/// fdatasync, so acknowledged data survives a crash of this process. Deallocation punches
/// holes (regular files).
///
/// Safety rules, because the file is the user's data:
/// * it is created only when ``Access/readWrite`` with `create: true` asks for it;
/// * it is grown only to a size the caller asks for, and never shrunk: a size smaller than
///   the file uses the first `size` bytes and leaves the rest alone;
/// * opened ``Access/readOnly`` (a workload that only reads), it cannot be modified at all:
///   writes fail with ``BlockStoreError/readOnly`` and flushes do nothing.
public final class FileStore: BlockStore, @unchecked Sendable {
  public enum Access: Sendable { case readOnly, readWrite }

  public let blockSize: Int
  public let blockCount: UInt64
  public var holdsData: Bool { true }
  public let path: String
  public let access: Access
  public var isReadOnly: Bool { access == .readOnly }
  /// The file's size in bytes before this store touched it (0 when it was created).
  public let originalBytes: UInt64
  private let fd: Int32
  private let mapped: MappedBitmap
  /// The durability ledger: writes (and hole punches) completed, and how many of them the
  /// last completed fdatasync covers.
  private let writesDone = Atomic<UInt64>(0)
  private let writesDurable = Atomic<UInt64>(0)

  /// Writes this store acknowledged that no completed fdatasync covers yet: what a crash of the
  /// machine (not only of this process) could still lose. 0 right after a FUA write or a flush
  /// (SYNCHRONIZE CACHE) completes — the observable seam the durability tests use, since a
  /// killed process keeps the page cache and cannot show a skipped flush.
  public var unsyncedWrites: UInt64 {
    let durable = writesDurable.load(ordering: .acquiring)
    return writesDone.load(ordering: .acquiring) &- durable
  }
  private let errorSlot = Locked<BlockStoreError?>(nil)

  /// What `stat` says of a path, without opening it for writing.
  public struct Probe: Sendable, Equatable {
    public let exists: Bool
    public let isBlockDevice: Bool
    /// Bytes (regular file size, or a block device's capacity).
    public let bytes: UInt64
  }

  /// Looks at `path` read-only: whether it exists, what it is, how big. Directories, FIFOs,
  /// sockets and character devices are refused.
  public static func probe(path: String) throws(BlockStoreError) -> Probe {
    var st = stat()
    if stat(path, &st) != 0 {
      let e = errno
      if e == ENOENT { return Probe(exists: false, isBlockDevice: false, bytes: 0) }
      throw .system(operation: "stat", path: path, errno: e)
    }
    let kind = st.st_mode & S_IFMT
    if kind == S_IFREG { return Probe(exists: true, isBlockDevice: false, bytes: UInt64(st.st_size)) }
    guard kind == S_IFBLK else {
      throw .unusable(
        path: path, reason: kind == S_IFDIR ? "is a directory" : "is not a regular file or block device")
    }
    let fd = storport_open(path, O_RDONLY, 0)
    guard fd >= 0 else { throw .system(operation: "open", path: path, errno: errno) }
    defer { close(fd) }
    let end = lseek(fd, 0, SEEK_END)
    guard end >= 0 else { throw .system(operation: "lseek", path: path, errno: errno) }
    return Probe(exists: true, isBlockDevice: true, bytes: UInt64(end))
  }

  /// Opens (or, when allowed, creates) `path` and presents its first `bytes` bytes as
  /// `bytes / blockSize` blocks.
  /// - Parameters:
  ///   - bytes: the store's size; the file is grown to it if shorter (read-write only).
  ///   - create: create the file if it does not exist (read-write only).
  /// - Throws: ``BlockStoreError/system(operation:path:errno:)`` naming the path and the
  ///   system's message; ``BlockStoreError/unusable(path:reason:)`` for a size it cannot have.
  public init(
    path: String, bytes: UInt64, blockSize: Int = 4096, access: Access = .readWrite, create: Bool = true,
    direct: Bool = false
  ) throws(BlockStoreError) {
    self.path = path
    self.blockSize = blockSize
    self.access = access
    blockCount = bytes / UInt64(blockSize)
    var flags = access == .readOnly ? O_RDONLY : O_RDWR
    if direct { flags |= storport_o_direct() }
    var fd = storport_open(path, flags, 0o644)
    // Created here only if it did not exist (O_EXCL): a file this init made and then could
    // not size is removed again — a failed start leaves nothing behind.
    var created = false
    if fd < 0 && errno == ENOENT && create && access == .readWrite {
      fd = storport_open(path, flags | O_CREAT | O_EXCL, 0o644)
      created = fd >= 0
    }
    guard fd >= 0 else { throw .system(operation: "open", path: path, errno: errno) }
    func fail(_ error: BlockStoreError) -> BlockStoreError {
      close(fd)
      if created { unlink(path) }
      return error
    }
    var st = stat()
    guard fstat(fd, &st) == 0 else { throw fail(.system(operation: "fstat", path: path, errno: errno)) }
    let isRegular = st.st_mode & S_IFMT == S_IFREG
    let size: UInt64
    if isRegular {
      size = UInt64(st.st_size)
    } else {
      let end = lseek(fd, 0, SEEK_END)
      size = end >= 0 ? UInt64(end) : 0
    }
    originalBytes = size
    let needed = blockCount * UInt64(blockSize)
    if size < needed {
      guard access == .readWrite, isRegular else {
        throw fail(
          .unusable(
            path: path,
            reason:
              "has \(size) bytes, fewer than the \(needed) asked for, and \(isRegular ? "is opened read-only" : "a device cannot grow")"
          ))
      }
      guard ftruncate(fd, off_t(needed)) == 0 else {
        throw fail(.system(operation: "ftruncate (grow)", path: path, errno: errno))
      }
    }
    self.fd = fd
    mapped = MappedBitmap(blocks: blockCount)
    // What the file already held counts as mapped.
    let held = min(blockCount, size / UInt64(blockSize))
    if held > 0 { mapped.set(0, Int(held)) }
  }

  deinit { close(fd) }

  public func takeLastError() -> BlockStoreError? {
    errorSlot.withLock { e in
      defer { e = nil }
      return e
    }
  }

  private func fail(_ operation: String, _ error: SystemError) -> BlockStoreError {
    let e = BlockStoreError.system(operation: operation, path: path, errno: error.errno)
    errorSlot.withLock { $0 = e }
    return e
  }

  public func read(lba: UInt64, count: Int, into buffer: UnsafeMutableRawPointer) throws(BlockStoreError) {
    try check(lba, count)
    let total = count * blockSize
    switch SystemIO.readAll(fd, buffer, count: total, offset: Int64(lba) * Int64(blockSize)) {
    case .failure(let e): throw fail("pread", e)
    case .success(let n):
      // Past the end of a file that shrank under us: zeros.
      if n < total { memset(buffer + n, 0, total - n) }
    }
  }

  public func write(lba: UInt64, count: Int, from buffer: UnsafeRawPointer, forceUnitAccess: Bool)
    throws(BlockStoreError)
  {
    guard access == .readWrite else { throw .readOnly }
    try check(lba, count)
    if let e = SystemIO.writeAll(fd, buffer, count: count * blockSize, offset: Int64(lba) * Int64(blockSize))
    {
      throw fail("pwrite", e)
    }
    mapped.set(lba, count)
    writesDone.add(1, ordering: .releasing)
    if forceUnitAccess { try flush() }
  }

  public func flush() throws(BlockStoreError) {
    guard access == .readWrite else { return }
    let covered = writesDone.load(ordering: .acquiring)  // everything done before the call
    guard fdatasync(fd) == 0 else { throw fail("fdatasync", SystemError(errno: errno)) }
    var durable = writesDurable.load(ordering: .relaxed)
    while durable < covered {
      let (exchanged, original) = writesDurable.compareExchange(
        expected: durable, desired: covered, ordering: .acquiringAndReleasing)
      if exchanged { break }
      durable = original
    }
  }

  public func deallocate(lba: UInt64, count: Int) throws(BlockStoreError) {
    guard access == .readWrite else { throw .readOnly }
    try check(lba, count)
    if storport_punch_hole(fd, Int64(Int(lba) * blockSize), Int64(count * blockSize)) != 0 {
      // No hole punching here (a device, or a file system without it): write zeros instead.
      let zeros = UnsafeMutableRawPointer.allocate(byteCount: count * blockSize, alignment: 4096)
      defer { zeros.deallocate() }
      memset(zeros, 0, count * blockSize)
      try write(lba: lba, count: count, from: zeros, forceUnitAccess: false)
    }
    mapped.clear(lba, count)
  }

  public func isMapped(lba: UInt64) -> Bool { lba < blockCount && mapped.isSet(lba) }
}
