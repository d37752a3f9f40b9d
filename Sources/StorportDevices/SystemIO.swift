import CStorportShim

#if canImport(Glibc)
  import Glibc
#endif

/// The few system calls the file-backed parts share — whole reads and writes that retry on
/// EINTR and short transfers, `open` with flags, and the system's message for an `errno` — so
/// each caller (file store, verify state, trace file, terminal) does not write its own loop.
public enum SystemIO {
  /// The system's message for `code` ("No such file or directory").
  public static func message(_ code: Int32) -> String {
    strerror(code).map { String(cString: $0) } ?? "error \(code)"
  }

  /// `open(2)`; the descriptor, or the errno.
  public static func open(_ path: String, _ flags: Int32, mode: Int32 = 0o644) -> Result<Int32, SystemError> {
    let fd = storport_open(path, flags, mode)
    return fd >= 0 ? .success(fd) : .failure(SystemError(errno: errno))
  }

  /// Writes all `count` bytes (at `offset` with pwrite, else at the file position). nil, or
  /// the error (a write that makes no progress counts as EIO).
  public static func writeAll(_ fd: Int32, _ bytes: UnsafeRawPointer, count: Int, offset: Int64? = nil)
    -> SystemError?
  {
    var done = 0
    while done < count {
      let n =
        offset.map { pwrite(fd, bytes + done, count - done, off_t($0) + off_t(done)) }
        ?? write(fd, bytes + done, count - done)
      if n < 0 {
        if errno == EINTR { continue }
        return SystemError(errno: errno)
      }
      if n == 0 { return SystemError(errno: EIO) }
      done += n
    }
    return nil
  }

  /// Reads up to `count` bytes (at `offset` with pread, else at the file position), stopping
  /// early only at end of file. The bytes read, or the error.
  public static func readAll(
    _ fd: Int32, _ bytes: UnsafeMutableRawPointer, count: Int, offset: Int64? = nil
  ) -> Result<Int, SystemError> {
    var done = 0
    while done < count {
      let n =
        offset.map { pread(fd, bytes + done, count - done, off_t($0) + off_t(done)) }
        ?? read(fd, bytes + done, count - done)
      if n < 0 {
        if errno == EINTR { continue }
        return .failure(SystemError(errno: errno))
      }
      if n == 0 { break }
      done += n
    }
    return .success(done)
  }
}

extension SystemIO {
  public enum FileKind: Sendable { case regular, directory, blockDevice, other }

  /// What `path` is, or nil if nothing is there.
  public static func fileKind(_ path: String) -> FileKind? {
    var st = stat()
    guard stat(path, &st) == 0 else { return nil }
    switch st.st_mode & S_IFMT {
    case S_IFREG: return .regular
    case S_IFDIR: return .directory
    case S_IFBLK: return .blockDevice
    default: return .other
    }
  }

  /// Whether `a` and `b` name the same file: the same device and inode when both exist
  /// (hard links, symbolic links), else the same canonical path.
  public static func sameFile(_ a: String, _ b: String) -> Bool {
    var sa = stat()
    var sb = stat()
    let ea = stat(a, &sa) == 0
    let eb = stat(b, &sb) == 0
    if ea && eb { return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino }
    if ea != eb { return false }
    return canonical(a) == canonical(b)
  }

  /// `path` with its directory made absolute and resolved (the file itself need not exist).
  static func canonical(_ path: String) -> String {
    let slash = path.lastIndex(of: "/")
    let dir = slash.map { String(path[..<$0]) } ?? "."
    let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
    guard let real = realpath(dir.isEmpty ? "/" : dir, nil) else { return path }
    defer { free(real) }
    return String(cString: real) + "/" + name
  }

  /// Why a file cannot be created at `path` ("/x does not exist", "… is not writable"), or
  /// nil if it can.
  public static func unwritableDirectory(of path: String) -> String? {
    let slash = path.lastIndex(of: "/")
    let dir = slash.map { String(path[..<$0]) } ?? "."
    let d = dir.isEmpty ? "/" : dir
    switch fileKind(d) {
    case nil: return "the directory \(d) does not exist"
    case .directory?: return access(d, W_OK) == 0 ? nil : "the directory \(d) is not writable"
    default: return "\(d) is not a directory"
    }
  }
}

/// An `errno` with its message.
public struct SystemError: Error, Equatable, Sendable, CustomStringConvertible {
  public let errno: Int32
  public init(errno: Int32) { self.errno = errno }
  public var description: String { "\(SystemIO.message(errno)) (errno \(errno))" }
}
