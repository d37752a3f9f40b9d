/// `STARTIO_PERFORMANCE_PARAMETERS` (StorPortGetStartIoPerfParams).
public struct StartIoPerformanceParameters: Sendable, Equatable {
  /// The MSI-X message that suits the processor StartIo runs on.
  public var messageNumber: UInt32
  /// The concurrent channel StartIo runs on (0 when channels are not set up).
  public var channelNumber: UInt32
}
