#if canImport(Glibc)
  import Glibc
#endif

/// Facts about the machine the front ends run on.
public enum HostInfo {
  /// Physical memory in bytes (sysconf).
  public static var physicalMemoryBytes: UInt64 {
    UInt64(max(0, sysconf(Int32(_SC_PHYS_PAGES)))) * UInt64(max(0, sysconf(Int32(_SC_PAGESIZE))))
  }

  /// The system's message for `errno` ("No such file or directory").
  public static func errorMessage(_ code: Int32) -> String {
    guard let s = strerror(code) else { return "error \(code)" }
    return String(cString: s)
  }
}
