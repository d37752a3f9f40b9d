import Storport

extension StorPort {
  /// Asks, from HwStorInitialize, for `channels` concurrent StartIo channels
  /// (`StorPortInitializePerfOpts` with `STOR_PERF_CONCURRENT_CHANNELS`), after querying that
  /// the port supports them. `channels` ≤ 1 asks for nothing. Returns whether the port agreed.
  @discardableResult
  public func requestConcurrentChannels(_ channels: UInt32) -> Bool {
    guard channels > 1 else { return true }
    var supported = PerfConfigurationData()
    guard initializePerfOpts(query: true, &supported) == .success,
      supported.flags.contains(.concurrentChannels)
    else { return false }
    var wanted = PerfConfigurationData()
    wanted.flags = [.concurrentChannels]
    wanted.concurrentChannels = channels
    return initializePerfOpts(query: false, &wanted) == .success
  }
}
