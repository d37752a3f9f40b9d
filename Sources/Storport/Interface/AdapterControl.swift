/// `SCSI_ADAPTER_CONTROL_TYPE` — what HwStorAdapterControl is asked to do.
public enum AdapterControlType: UInt32, Sendable, CaseIterable {
  /// `ScsiQuerySupportedControlTypes` (PASSIVE): fill in the supported set.
  case querySupportedControlTypes = 0
  /// `ScsiStopAdapter` (DIRQL, Interrupt lock held — D12): halt all processing.
  case stopAdapter = 1
  /// `ScsiRestartAdapter` (DIRQL, Interrupt lock held — D12).
  case restartAdapter = 2
  /// `ScsiSetBootConfig`
  case setBootConfig = 3
  /// `ScsiSetRunningConfig` (PASSIVE)
  case setRunningConfig = 4
}

/// `SCSI_ADAPTER_CONTROL_STATUS`.
public enum AdapterControlStatus: UInt32, Sendable {
  /// `ScsiAdapterControlSuccess`
  case success = 0
  /// `ScsiAdapterControlUnsuccessful`
  case unsuccessful = 1
}

/// The in/out parameters of HwStorAdapterControl (`SCSI_SUPPORTED_CONTROL_TYPE_LIST` for the
/// query).
public struct AdapterControlParameters: Sendable {
  /// For `.querySupportedControlTypes`: the miniport marks what it supports.
  public var supported: Set<AdapterControlType> = []
  public init() {}
}
