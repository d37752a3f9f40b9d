import CStorportShim

/// The miniport's per-adapter storage (`HwDeviceExtension`). Subclass it with your state; the
/// port allocates one per adapter (`DeviceExtensionSize`), zero-initialised only at first
/// allocation and kept across stop/restart (R-Y2, rule 70), and passes it to every callback.
///
/// Thread-safety is the miniport's business, exactly as in C: the port serialises callbacks
/// with its spin locks, and the miniport uses those locks and ``InterlockedValue`` for the rest.
open class DeviceExtension: @unchecked Sendable {
  /// The port services of this adapter (the StorPort* routines), reached from the extension
  /// as StorPort routines are reached from `HwDeviceExtension`.
  ///
  /// A constant the port sets when it allocates the extension: reading it costs no reference
  /// count (a `let` of a class is read borrowed), so `ext.port.acquireSpinLock(…)` is a plain
  /// call. The extension keeps its port alive; the port's adapter owns the extension.
  public final let port: StorPort

  /// Only the port allocates extensions (`StorportRuntime.attach`, as Storport allocates
  /// `DeviceExtensionSize` bytes); creating one anywhere else stops the process with that
  /// message — there is no port to give it.
  public required init() {
    guard let raw = storport_get_allocating() else {
      preconditionFailure(
        "a DeviceExtension is allocated by the port when a miniport is attached (StorportRuntime.attach), "
          + "not created directly")
    }
    port = Unmanaged<StorPort>.fromOpaque(raw).takeUnretainedValue()
  }
}
