/// `SCSI_UNIT_CONTROL_TYPE`: the unit (LUN) events HwStorUnitControl hears about.
public enum UnitControlType: UInt32, Sendable, CaseIterable {
  /// `ScsiQuerySupportedUnitControlTypes`: fill in the supported set.
  case querySupportedUnitControlTypes = 0
  /// `ScsiUnitUsage`: the unit carries a paging, hibernation or crash-dump file.
  case unitUsage = 1
  /// `ScsiUnitStart`: the unit is starting (PnP start).
  case unitStart = 2
  /// `ScsiUnitPower`: a device power transition.
  case unitPower = 3
  /// `ScsiUnitRemove`: the unit is being removed (PnP remove).
  case unitRemove = 11
  /// `ScsiUnitSurpriseRemoval`: the unit went away without warning.
  case unitSurpriseRemoval = 12
}

/// `SCSI_UNIT_CONTROL_STATUS`.
public enum UnitControlStatus: UInt32, Sendable {
  case success = 0
  case unsuccessful = 1
}

/// The in/out parameters of HwStorUnitControl: the unit's address (`STOR_ADDRESS`), the
/// supported set for the query, the power state for `unitPower` (D0–D3).
public struct UnitControlParameters: Sendable {
  public var pathId: UInt8
  public var targetId: UInt8
  public var lun: UInt8
  /// For `.querySupportedUnitControlTypes`: the miniport marks what it supports.
  public var supported: Set<UnitControlType> = []
  /// For `.unitPower`: the device power state requested (0 = D0 … 3 = D3).
  public var powerState: UInt8 = 0

  public init(pathId: UInt8 = 0, targetId: UInt8 = 0, lun: UInt8 = 0) {
    self.pathId = pathId
    self.targetId = targetId
    self.lun = lun
  }
}
