import CStorportShim

#if canImport(Glibc)
  import Glibc
#endif

/// Facts about the machine the front ends run on, and the process-wide stop signals.
public enum HostInfo {
  /// Physical memory in bytes (sysconf).
  public static var physicalMemoryBytes: UInt64 {
    UInt64(max(0, sysconf(Int32(_SC_PHYS_PAGES)))) * UInt64(max(0, sysconf(Int32(_SC_PAGESIZE))))
  }

  /// Makes SIGINT and SIGTERM a request to stop (recorded, polled with ``stopSignal``); a
  /// second one asks not to wait for the drain (``stopSignalCount``); a third kills the
  /// process as usual. False if the handlers could not be installed.
  @discardableResult
  public static func installStopSignals() -> Bool { storport_install_stop_signals() == 0 }

  /// The first stop signal received (2 SIGINT, 15 SIGTERM), or 0.
  public static var stopSignal: Int32 { storport_stop_signal() }

  /// How many stop signals arrived.
  public static var stopSignalCount: Int32 { storport_stop_signal_count() }
}
