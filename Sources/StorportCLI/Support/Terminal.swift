#if canImport(Glibc)
  import Glibc
#endif

/// Standard output and error, unbuffered and without Foundation.
enum Terminal {
  static func write(_ s: String, to fd: Int32) {
    var t = s
    t.withUTF8 { buf in
      var done = 0
      while done < buf.count {
        let n = Glibc.write(fd, buf.baseAddress! + done, buf.count - done)
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { return }
        done += n
      }
    }
  }

  static func out(_ s: String) { write(s, to: 1) }
  static func err(_ s: String) { write(s, to: 2) }
  static func isTerminal(_ fd: Int32) -> Bool { isatty(fd) == 1 }
}
