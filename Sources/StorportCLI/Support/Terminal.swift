import StorportDevices

#if canImport(Glibc)
  import Glibc
#endif

/// Standard output and error, unbuffered and without Foundation.
enum Terminal {
  static func write(_ s: String, to fd: Int32) {
    var t = s
    t.withUTF8 { buf in
      if let base = buf.baseAddress { _ = SystemIO.writeAll(fd, base, count: buf.count) }
    }
  }

  static func out(_ s: String) { write(s, to: 1) }
  static func err(_ s: String) { write(s, to: 2) }
  static func isTerminal(_ fd: Int32) -> Bool { isatty(fd) == 1 }
}
