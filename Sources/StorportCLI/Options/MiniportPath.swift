import StorportWorkload

#if canImport(Glibc)
  import Glibc
#endif

/// `--miniport PATH.so`: a C miniport's shared object.
enum MiniportPath {
  /// The absolute path of the C miniport `--miniport` names (any value is a path here).
  static func library(_ value: String) throws(OptionError) -> String {
    guard let path = try resolve(value.contains("/") ? value : "./" + value) else {
      throw OptionError("--miniport", value, "the path of a C miniport's .so")
    }
    return path
  }

  /// `--miniport-args` without `--miniport PATH.so` is an error.
  static func checkArguments(_ arguments: String?, library: String?) throws(OptionError) {
    if let arguments, library == nil {
      throw OptionError("--miniport-args", arguments, "applies only with --miniport PATH.so")
    }
  }

  /// The absolute path `value` names, if it names a file (a value with a `/` or ending in
  /// `.so`); nil if it does not look like a path. Throws when it looks like one that is not
  /// there or not readable.
  static func resolve(_ value: String) throws(OptionError) -> String? {
    guard value.contains("/") || value.hasSuffix(".so") else { return nil }
    var st = stat()
    guard stat(value, &st) == 0 else { throw OptionError("--miniport", value, "no such file") }
    guard st.st_mode & S_IFMT == S_IFREG else { throw OptionError("--miniport", value, "not a regular file") }
    guard access(value, R_OK) == 0 else { throw OptionError("--miniport", value, "not readable") }
    if value.hasPrefix("/") { return value }
    var buffer = [CChar](repeating: 0, count: Int(PATH_MAX))
    guard let cwd = getcwd(&buffer, buffer.count) else { return value }
    return String(cString: cwd) + "/" + value
  }
}
