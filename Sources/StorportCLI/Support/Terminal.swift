import StorportDevices

#if canImport(Glibc)
  import Glibc
#endif

/// Standard output and error, unbuffered and without Foundation.
enum Terminal {
  /// Writes `s` to `fd`; the error, if the write failed.
  @discardableResult
  static func write(_ s: String, to fd: Int32) -> SystemError? {
    var t = s
    return t.withUTF8 { buf in buf.baseAddress.flatMap { SystemIO.writeAll(fd, $0, count: buf.count) } }
  }

  /// Writes a command's results to standard output; a failed write (a full disk, a closed
  /// pipe) fails the command instead of losing them silently.
  static func results(_ s: String) throws {
    if let e = write(s, to: 1) {
      throw CommandExit(1, "could not write the results to standard output: \(e)")
    }
  }

  static func out(_ s: String) { write(s, to: 1) }
  static func err(_ s: String) { write(s, to: 2) }
  static func isTerminal(_ fd: Int32) -> Bool { isatty(fd) == 1 }
}
