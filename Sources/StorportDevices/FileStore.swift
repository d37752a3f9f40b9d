import CStorportShim

#if canImport(Glibc)
  import Glibc
#endif

/// A file backing: pread/pwrite on a regular file (created and sized if needed), optionally
/// with O_DIRECT (buffers must then be block-aligned, as pool buffers are). FUA writes and
/// flushes end with fdatasync, so acknowledged data survives a crash of this process.
/// Deallocation punches holes.
public final class FileStore: BlockStore, @unchecked Sendable {
  public let blockSize: Int
  public let blockCount: UInt64
  public var holdsData: Bool { true }
  public let path: String
  private let fd: Int32
  private let mapped: MappedBitmap

  public init(path: String, bytes: UInt64, blockSize: Int = 4096, direct: Bool = false)
    throws(BlockStoreError)
  {
    self.path = path
    self.blockSize = blockSize
    blockCount = bytes / UInt64(blockSize)
    var flags = O_RDWR | O_CREAT
    if direct { flags |= storport_o_direct() }
    let fd = storport_open(path, flags, 0o644)
    guard fd >= 0 else { throw .io(errno: errno) }
    var st = stat()
    fstat(fd, &st)
    if UInt64(st.st_size) < blockCount * UInt64(blockSize) {
      guard ftruncate(fd, off_t(blockCount * UInt64(blockSize))) == 0 else {
        let e = errno
        close(fd)
        throw .io(errno: e)
      }
    }
    self.fd = fd
    mapped = MappedBitmap(blocks: blockCount)
    // An existing file's contents count as mapped.
    if st.st_size > 0 { mapped.set(0, Int(min(blockCount, UInt64(st.st_size) / UInt64(blockSize)))) }
  }

  deinit { close(fd) }

  public func read(lba: UInt64, count: Int, into buffer: UnsafeMutableRawPointer) throws(BlockStoreError) {
    try check(lba, count)
    var done = 0
    let total = count * blockSize
    while done < total {
      let n = pread(fd, buffer + done, total - done, off_t(Int(lba) * blockSize + done))
      if n < 0 {
        if errno == EINTR { continue }
        throw .io(errno: errno)
      }
      if n == 0 {  // past EOF: zeros
        memset(buffer + done, 0, total - done)
        break
      }
      done += n
    }
  }

  public func write(lba: UInt64, count: Int, from buffer: UnsafeRawPointer, forceUnitAccess: Bool)
    throws(BlockStoreError)
  {
    try check(lba, count)
    var done = 0
    let total = count * blockSize
    while done < total {
      let n = pwrite(fd, buffer + done, total - done, off_t(Int(lba) * blockSize + done))
      if n < 0 {
        if errno == EINTR { continue }
        throw .io(errno: errno)
      }
      done += n
    }
    mapped.set(lba, count)
    if forceUnitAccess { try flush() }
  }

  public func flush() throws(BlockStoreError) {
    guard fdatasync(fd) == 0 else { throw .io(errno: errno) }
  }

  public func deallocate(lba: UInt64, count: Int) throws(BlockStoreError) {
    try check(lba, count)
    if storport_punch_hole(fd, Int64(Int(lba) * blockSize), Int64(count * blockSize)) != 0 {
      // No hole punching on this file system: write zeros instead.
      let zeros = UnsafeMutableRawPointer.allocate(byteCount: count * blockSize, alignment: 4096)
      defer { zeros.deallocate() }
      memset(zeros, 0, count * blockSize)
      try write(lba: lba, count: count, from: zeros, forceUnitAccess: false)
    }
    mapped.clear(lba, count)
  }

  public func isMapped(lba: UInt64) -> Bool { lba < blockCount && mapped.isSet(lba) }
}
