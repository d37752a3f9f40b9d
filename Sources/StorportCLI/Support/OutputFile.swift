import StorportDevices

#if canImport(Glibc)
  import Glibc
#endif

/// A file the command writes at its end (a trace), opened before the run so an unusable path
/// is found at once — but not truncated until the run has produced something to write, so a
/// command that fails before running leaves an existing file as it was (and removes one it
/// created). Written in buffered chunks and closed with every error checked: a full disk
/// (`/dev/full`) or a failing close fails the command with the path and the system's message
/// instead of leaving a silently truncated file.
final class OutputFile {
  let path: String
  private var fd: Int32
  private let created: Bool
  private var started = false
  private var buffer: [UInt8] = []
  private(set) var bytesWritten: UInt64 = 0

  struct Failure: Error, CustomStringConvertible {
    let path: String
    let operation: String
    let error: SystemError
    var description: String { "\(path): \(operation) failed: \(SystemIO.message(error.errno))" }
  }

  /// Opens (creating if needed) `path` for writing, without truncating it yet.
  init(path: String) throws(Failure) {
    self.path = path
    created = access(path, F_OK) != 0
    switch SystemIO.open(path, O_WRONLY | O_CREAT | O_CLOEXEC) {
    case .success(let d): fd = d
    case .failure(let e): throw Failure(path: path, operation: "open", error: e)
    }
    buffer.reserveCapacity(1 << 16)
  }

  /// Closes the file; if nothing was written, a file this object created is removed.
  deinit {
    guard fd >= 0 else { return }
    close(fd)
    if created && !started { unlink(path) }
  }

  func write(_ text: String) throws(Failure) {
    if !started {
      started = true
      // Replace what a regular file held (devices such as /dev/full cannot be truncated).
      var st = stat()
      if fstat(fd, &st) == 0 && st.st_mode & S_IFMT == S_IFREG && ftruncate(fd, 0) != 0 {
        throw Failure(path: path, operation: "truncate", error: SystemError(errno: errno))
      }
    }
    buffer.append(contentsOf: text.utf8)
    if buffer.count >= 1 << 16 { try drain() }
  }

  private func drain() throws(Failure) {
    let e = buffer.withUnsafeBytes { SystemIO.writeAll(fd, $0.baseAddress!, count: $0.count) }
    if let e { throw Failure(path: path, operation: "write", error: e) }
    bytesWritten += UInt64(buffer.count)
    buffer.removeAll(keepingCapacity: true)
  }

  /// Writes what is buffered and closes the file; errors of either are thrown.
  func finish() throws(Failure) {
    if !buffer.isEmpty { try drain() }
    let r = close(fd)
    fd = -1
    guard r == 0 else { throw Failure(path: path, operation: "close", error: SystemError(errno: errno)) }
  }
}
