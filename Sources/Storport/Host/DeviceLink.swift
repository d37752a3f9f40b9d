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
}
