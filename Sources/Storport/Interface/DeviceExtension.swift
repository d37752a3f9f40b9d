/// The miniport's per-adapter storage (`HwDeviceExtension`). Subclass it with your state; the
/// port allocates one per adapter (`DeviceExtensionSize`), zero-initialised only at first
/// allocation and kept across stop/restart (R-Y2, rule 70), and passes it to every callback.
///
/// Thread-safety is the miniport's business, exactly as in C: the port serialises callbacks
/// with its spin locks, and the miniport uses those locks and ``InterlockedValue`` for the rest.
open class DeviceExtension: @unchecked Sendable {
  @usableFromInline @exclusivity(unchecked) nonisolated(unsafe) var portStorage: Unmanaged<StorPort>?

  public required init() {}

  /// The port services of this adapter (the StorPort* routines), reached from the extension
  /// as StorPort routines are reached from `HwDeviceExtension`.
  @inlinable
  public var port: StorPort {
    guard let p = portStorage else {
      preconditionFailure("DeviceExtension.port used before the port allocated this extension")
    }
    return p.takeUnretainedValue()
  }
}
