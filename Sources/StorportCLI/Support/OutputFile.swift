import CStorportShim
import StorportWorkload

#if canImport(Glibc)
  import Glibc
#endif

/// A file the command writes (a trace), opened before the run so that an unusable path is
/// found at once, written in buffered chunks, and closed with every error checked: a full
/// disk (`/dev/full`) or a failing close fails the command with the path and the system's
/// message instead of leaving a silently truncated file.
final class OutputFile {
  let path: String
  private var fd: Int32
  private var buffer: [UInt8] = []
  private(set) var bytesWritten: UInt64 = 0

  struct Failure: Error, CustomStringConvertible {
    let path: String
    let operation: String
    let code: Int32
    var description: String { "\(path): \(operation) failed: \(HostInfo.errorMessage(code))" }
  }

  /// Creates or truncates `path` for writing.
  init(path: String) throws(Failure) {
    self.path = path
    fd = storport_open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw Failure(path: path, operation: "open", code: errno) }
    buffer.reserveCapacity(1 << 16)
  }

  deinit { if fd >= 0 { close(fd) } }

  func write(_ text: String) throws(Failure) {
    buffer.append(contentsOf: text.utf8)
    if buffer.count >= 1 << 16 { try drain() }
  }

  private func drain() throws(Failure) {
    var done = 0
    while done < buffer.count {
      let n = buffer.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, $0.count - done) }
      if n < 0 {
        if errno == EINTR { continue }
        throw Failure(path: path, operation: "write", code: errno)
      }
      done += n
    }
    bytesWritten += UInt64(done)
    buffer.removeAll(keepingCapacity: true)
  }

  /// Writes what is buffered and closes the file; errors of either are thrown.
  func finish() throws(Failure) {
    try drain()
    let r = close(fd)
    fd = -1
    guard r == 0 else { throw Failure(path: path, operation: "close", code: errno) }
  }
}
