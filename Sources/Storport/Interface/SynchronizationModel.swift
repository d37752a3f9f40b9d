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
