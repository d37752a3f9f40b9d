/// `PORT_CONFIGURATION_INFORMATION` — the fields this runtime honours. HwStorFindAdapter
/// fills them in; the port reads them when it returns.
public struct PortConfiguration: Sendable {
  /// `SynchronizationModel`; half duplex unless the miniport says otherwise (R-S2, rule 59).
  public var synchronizationModel: SynchronizationModel = .halfDuplex
  /// `InterruptSynchronizationMode`.
  public var interruptSynchronizationMode: InterruptSynchronizationMode = .supportNone
  /// Number of MSI-X messages the device offers (`StorPortGetMSIInfo` range).
  public var messageCount: UInt32 = 0
  /// `NumberOfPhysicalBreaks` (mandatory for FindAdapter per SDV StorPortFindAdapter).
  public var numberOfPhysicalBreaks: UInt32 = 0
  /// `MaximumTransferLength` in bytes.
  public var maximumTransferLength: UInt32 = 0
  /// `NumberOfBuses`.
  public var numberOfBuses: UInt8 = 1
  /// `MaximumNumberOfTargets`.
  public var maximumNumberOfTargets: UInt8 = 1
  /// `MaximumNumberOfLogicalUnits`.
  public var maximumNumberOfLogicalUnits: UInt8 = 1
  /// `MaxNumberOfIO`: requests the adapter accepts at once (further ones wait in the port).
  public var maxNumberOfIO: Int = 1000
  /// `MaxIOsPerLun`: the default per-LUN queue depth (StorPortSetDeviceQueueDepth changes it).
  public var maxIOsPerLun: Int = 256
  /// Request timeout used when a request's `timeoutSeconds` is 0 (the class driver's default).
  public var defaultRequestTimeoutSeconds: UInt32 = 10

  public init() {}
}
