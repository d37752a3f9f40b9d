/// The device's face of one adapter: what the hardware does to it. A device model (the
/// emulated NVMe controller) or a test standing in for one gets it from ``Adapter/device``;
/// a miniport never sees it.
public struct DeviceLink: Sendable {
  let port: StorPort

  /// Raises an interrupt: line-based (`message` nil, HwStorInterrupt) or MSI-X message
  /// `message` (HwMSInterruptRoutine). Callable from any thread. Message `m` goes to processor
  /// `m % processors`, line interrupts to processor 0; delivered at DIRQL holding the Interrupt
  /// lock (or, per-message mode, only its message lock) (rules 50, 51), preempting lower-IRQL
  /// code on that processor at its next scheduling point.
  public func raiseInterrupt(message: UInt32? = nil) { port.raiseInterrupt(message: message) }

  /// The device fetched a command that will read or write `buffer` (a data buffer the host
  /// gave it): until ``giveBack(_:)``, a request completed with that buffer is
  /// REQUEST_COMPLETED_WHILE_DEVICE_OWNS_IT. Callable from any thread; free in unchecked mode.
  public func take(_ buffer: UnsafeRawPointer?) {
    guard port.checked, let buffer else { return }
    port.deviceBuffers.take(UInt(bitPattern: buffer), serial: port.serialExecution)
  }

  /// The device is done with `buffer` (it posted the command's completion).
  public func giveBack(_ buffer: UnsafeRawPointer?) {
    guard port.checked, let buffer else { return }
    port.deviceBuffers.giveBack(UInt(bitPattern: buffer), serial: port.serialExecution)
  }

  /// The device dropped every command it held (a controller reset).
  public func giveBackAll() {
    guard port.checked else { return }
    port.deviceBuffers.removeAll(serial: port.serialExecution)
  }

  /// The driver broke the device's protocol (a command identifier reused while in flight, a
  /// doorbell past the end of a queue): DEVICE_PROTOCOL_VIOLATION, charged to the miniport code
  /// running on the calling processor (the doorbell write), else to this adapter.
  public func reportProtocolViolation(_ message: String) {
    port.violation(.deviceProtocolViolation, on: Processor.current, message)
  }
}
