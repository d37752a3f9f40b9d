import CStorportShim

/// The host's own clocks, for front ends that measure the machine rather than the model (a
/// progress line's wall-clock interval, CPU per I/O). The runtime itself reads time only
/// through its ``Platform``.
public enum HostClock {
  /// CLOCK_MONOTONIC, in nanoseconds.
  public static var monotonicNanoseconds: UInt64 { storport_monotonic_ns() }
  /// CPU time the whole process has used (all threads), in nanoseconds.
  public static var processCPUNanoseconds: UInt64 { storport_process_cpu_ns() }
}
