/// `STOR_PERF_*` flags of `PERF_CONFIGURATION_DATA.Flags` (spec §6.6).
public struct StorPerfFlags: OptionSet, Sendable, Hashable {
  public let rawValue: UInt32
  public init(rawValue: UInt32) { self.rawValue = rawValue }

  /// `STOR_PERF_DPC_REDIRECTION` (v2)
  public static let dpcRedirection = StorPerfFlags(rawValue: 0x01)
  /// `STOR_PERF_CONCURRENT_CHANNELS` (v2): StartIo without the StartIo lock on
  /// `ConcurrentChannels` channels — it then overlaps itself and HwStorTimer.
  public static let concurrentChannels = StorPerfFlags(rawValue: 0x02)
  /// `STOR_PERF_INTERRUPT_MESSAGE_RANGES` (v2; needs DPC_REDIRECTION)
  public static let interruptMessageRanges = StorPerfFlags(rawValue: 0x04)
  /// `STOR_PERF_ADV_CONFIG_LOCALITY` (v3; needs MESSAGE_RANGES and DPC_REDIRECTION)
  public static let advancedConfigLocality = StorPerfFlags(rawValue: 0x08)
  /// `STOR_PERF_OPTIMIZE_FOR_COMPLETION_DURING_STARTIO` (v3; needs DPC_REDIRECTION)
  public static let optimizeForCompletionDuringStartIo = StorPerfFlags(rawValue: 0x10)
  /// `STOR_PERF_DPC_REDIRECTION_CURRENT_CPU` (v4; needs DPC_REDIRECTION)
  public static let dpcRedirectionCurrentCpu = StorPerfFlags(rawValue: 0x20)
  /// `STOR_PERF_NO_SGL` (v5)
  public static let noSgl = StorPerfFlags(rawValue: 0x40)

  /// What this port supports for a structure `version` (`STOR_PERF_VERSION` = 5).
  static func supported(version: UInt32) -> StorPerfFlags {
    var f: StorPerfFlags = []
    if version >= 2 { f.formUnion([.dpcRedirection, .concurrentChannels, .interruptMessageRanges]) }
    if version >= 3 { f.formUnion([.advancedConfigLocality, .optimizeForCompletionDuringStartIo]) }
    if version >= 4 { f.insert(.dpcRedirectionCurrentCpu) }
    if version >= 5 { f.insert(.noSgl) }
    return f
  }

  /// The prerequisite of each flag (R-P5); nil when the set is consistent.
  var missingPrerequisite: (StorPerfFlags, StorPerfFlags)? {
    let rules: [(StorPerfFlags, StorPerfFlags)] = [
      (.interruptMessageRanges, .dpcRedirection),
      (.advancedConfigLocality, [.interruptMessageRanges, .dpcRedirection]),
      (.optimizeForCompletionDuringStartIo, .dpcRedirection),
      (.dpcRedirectionCurrentCpu, .dpcRedirection),
    ]
    for (flag, needs) in rules where contains(flag) && !isSuperset(of: needs) { return (flag, needs) }
    return nil
  }
}

/// `PERF_CONFIGURATION_DATA`.
public struct PerfConfigurationData: Sendable {
  /// `STOR_PERF_VERSION`
  public static let currentVersion: UInt32 = 5
  public var version: UInt32 = PerfConfigurationData.currentVersion
  public var size: UInt32 = 40
  public var flags: StorPerfFlags = []
  /// `ConcurrentChannels`: number of StartIo channels with `.concurrentChannels`.
  public var concurrentChannels: UInt32 = 0
  public var firstRedirectionMessageNumber: UInt32 = 0
  public var lastRedirectionMessageNumber: UInt32 = 0
  public var deviceNode: UInt32 = 0

  public init() {}
}
