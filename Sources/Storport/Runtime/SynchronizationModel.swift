/// `PORT_CONFIGURATION_INFORMATION.SynchronizationModel`.
public enum SynchronizationModel: UInt8, Sendable {
  /// `StorSynchronizeHalfDuplex` (0, the default — R-S2): StartIo runs at DIRQL under the
  /// Interrupt lock; HwStorTimer holds StartIo and Interrupt locks.
  case halfDuplex = 0
  /// `StorSynchronizeFullDuplex` (1): StartIo at DISPATCH under the StartIo lock.
  case fullDuplex = 1
}

/// `INTERRUPT_SYNCHRONIZATION_MODE`.
public enum InterruptSynchronizationMode: UInt8, Sendable {
  /// `InterruptSupportNone`: no message-signalled interrupts.
  case supportNone = 0
  /// `InterruptSynchronizeAll`: every message serialised by the one Interrupt lock.
  case synchronizeAll = 1
  /// `InterruptSynchronizePerMessage`: each message has its own lock.
  case synchronizePerMessage = 2
}

/// HwStorFindAdapter's result (`SP_RETURN_*`).
public enum FindAdapterResult: UInt32, Sendable {
  /// `SP_RETURN_NOT_FOUND`
  case notFound = 0
  /// `SP_RETURN_FOUND`
  case found = 1
  /// `SP_RETURN_ERROR`
  case error = 2
  /// `SP_RETURN_BAD_CONFIG`
  case badConfig = 3
}

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
