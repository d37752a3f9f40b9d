extension StorPort {
  /// `StorPortQueryPerformanceCounter(HwDeviceExtension, PerformanceFrequency, PerformanceCounter)`:
  /// the platform clock in nanoseconds (frequency 1 GHz; virtual on the simulated platform).
  public func queryPerformanceCounter() -> (counter: UInt64, frequency: UInt64) {
    (platform.now().nanoseconds, 1_000_000_000)
  }
}
