/// An opaque work-item context (`PVOID Worker` from StorPortInitializeWorker).
public struct StorWorkerHandle: Hashable, Sendable {
  let slot: Int
  let generation: UInt64
  /// The adapter that made it (its attach number).
  let adapter: Int
}

/// `HW_WORKITEM` — `VOID HwStorWorkItem(PVOID HwDeviceExtension, PVOID Context, PVOID Worker)`:
/// runs at PASSIVE_LEVEL in a worker thread, with no port lock held; it may queue its own work
/// item again or free it.
public struct HwWorkItem<Extension: DeviceExtension>: Sendable {
  public let name: String
  let erased: ErasedWorkItem

  public init(_ name: String, _ routine: @escaping @Sendable (Extension, UInt, StorWorkerHandle) -> Void) {
    self.name = name
    erased = ErasedWorkItem(traceName: TraceName(name)) {
      routine(unsafeDowncast($0, to: Extension.self), $1, $2)
    }
  }
}

struct ErasedWorkItem: Sendable {
  let traceName: TraceName
  var name: String { traceName.description }
  let call: @Sendable (DeviceExtension, UInt, StorWorkerHandle) -> Void
}
