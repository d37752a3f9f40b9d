import Storport

/// The demo's "hardware": a device that completes every command at once and signals the
/// queue's MSI-X message. The host wires it to the adapter (``connect(_:)``) as a board wires
/// a controller's interrupt lines; the miniport only rings its doorbell.
public final class DemoDevice: Sendable {
  private let link = Locked<DeviceLink?>(nil)

  public init() {}

  /// Wires the device's interrupts to an adapter (before the adapter starts).
  public func connect(_ device: DeviceLink) { link.withLock { $0 = device } }

  /// The doorbell of completion queue `queue`: the command is done; raise its message.
  public func ringDoorbell(queue: Int) { link.withLock { $0 }?.raiseInterrupt(message: UInt32(queue)) }
}
