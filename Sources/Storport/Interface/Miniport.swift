/// What kind of miniport (`HW_INITIALIZATION_DATA` / virtual miniport registration).
public struct MiniportInitializationData: Sendable {
  /// A virtual miniport (`VIRTUAL_HW_FIND_ADAPTER`): StartIo runs without the StartIo lock at
  /// ≤ DISPATCH (R-S8) and HwStorInitialize without the Interrupt lock.
  public var isVirtual: Bool
  /// Whether HwStorBuildIo is provided (`HwBuildIo` non-NULL).
  public var hasBuildIo: Bool
  /// A name for reports and traces.
  public var name: String

  public init(name: String, isVirtual: Bool = false, hasBuildIo: Bool = false) {
    self.name = name
    self.isVirtual = isVirtual
    self.hasBuildIo = hasBuildIo
  }
}

/// A Storport miniport driver: the entry points that `HW_INITIALIZATION_DATA` gives
/// `StorPortInitialize`. The port calls each one in exactly the context Storport promises
/// (processor, IRQL, locks held) — see the table in the documentation's name map.
public protocol Miniport: AnyObject, Sendable {
  /// The per-adapter device extension type (`DeviceExtensionSize`).
  associatedtype Extension: DeviceExtension

  /// `HW_INITIALIZATION_DATA`: kind and optional entry points.
  var initializationData: MiniportInitializationData { get }

  /// `HwStorFindAdapter` (HW_FIND_ADAPTER) — PASSIVE_LEVEL, no locks. Fill `configuration`;
  /// set `synchronizationModel = .fullDuplex` for full duplex (half duplex is the default).
  func findAdapter(_ ext: Extension, _ configuration: inout PortConfiguration) -> FindAdapterResult

  /// `HwStorInitialize` (HW_INITIALIZE) — DIRQL holding the Interrupt lock (physical);
  /// may call `enablePassiveInitialization` and `initializePerfOpts`.
  func initialize(_ ext: Extension) -> Bool

  /// `HwStorBuildIo` (HW_BUILDIO) — DISPATCH_LEVEL, no lock, may run on several processors at
  /// once. `false`: the miniport completes the request itself; it never reaches StartIo.
  func buildIo(_ ext: Extension, _ request: StorRequest) -> Bool

  /// `HwStorStartIo` (HW_STARTIO) — DISPATCH with the StartIo lock (full duplex), DIRQL with
  /// the Interrupt lock (half duplex), or with no lock on concurrent channels.
  func startIo(_ ext: Extension, _ request: StorRequest) -> Bool

  /// `HwStorInterrupt` (HW_INTERRUPT) — DIRQL, Interrupt lock held. `false`: not ours.
  func interrupt(_ ext: Extension) -> Bool

  /// `HwMSInterruptRoutine` (HW_MESSAGE_SIGNALED_INTERRUPT_ROUTINE) — DIRQL, Interrupt lock
  /// held (`synchronizeAll`) or only this message's lock (`synchronizePerMessage`).
  func messageSignaledInterrupt(_ ext: Extension, messageId: UInt32) -> Bool

  /// `HwStorResetBus` (HW_RESET_BUS) — DISPATCH with the StartIo lock, all channels held.
  func resetBus(_ ext: Extension, pathId: UInt32) -> Bool

  /// `HwStorAdapterControl` (HW_ADAPTER_CONTROL) — PASSIVE, no lock; ScsiStopAdapter and
  /// ScsiRestartAdapter at DIRQL with the Interrupt lock held (D12).
  func adapterControl(
    _ ext: Extension, _ type: AdapterControlType, _ parameters: inout AdapterControlParameters
  ) -> AdapterControlStatus

  /// `HwStorUnitControl` (HW_UNIT_CONTROL) — PASSIVE, no port lock held, may take any; called
  /// only for the types its `.querySupportedUnitControlTypes` answer listed.
  func unitControl(
    _ ext: Extension, _ type: UnitControlType, _ parameters: inout UnitControlParameters
  ) -> UnitControlStatus

  /// Not a Storport callback: the port hands `request` back to its submitter — completed by
  /// the miniport, or by the port itself (a timeout, a stop, StorPortCompleteRequest). For
  /// bindings that keep per-request state beside the miniport (the C interface's request
  /// blocks); runs as host code, in no callback context. Default: nothing.
  func requestReturned(_ ext: Extension, _ request: StorRequest)
}

extension Miniport {
  public func requestReturned(_ ext: Extension, _ request: StorRequest) {}

  public func unitControl(
    _ ext: Extension, _ type: UnitControlType, _ parameters: inout UnitControlParameters
  ) -> UnitControlStatus {
    if type == .querySupportedUnitControlTypes { parameters.supported = [.querySupportedUnitControlTypes] }
    return .success
  }

  public func buildIo(_ ext: Extension, _ request: StorRequest) -> Bool { true }
  public func interrupt(_ ext: Extension) -> Bool { false }
  public func messageSignaledInterrupt(_ ext: Extension, messageId: UInt32) -> Bool { false }
  public func resetBus(_ ext: Extension, pathId: UInt32) -> Bool { true }
  public func adapterControl(
    _ ext: Extension, _ type: AdapterControlType, _ parameters: inout AdapterControlParameters
  ) -> AdapterControlStatus {
    if type == .querySupportedControlTypes {
      parameters.supported = [.querySupportedControlTypes, .stopAdapter]
    }
    return .success
  }
}

/// The port's type-erased view of a miniport.
protocol MiniportEntry: Sendable {
  var data: MiniportInitializationData { get }
  var extensionType: ObjectIdentifier { get }
  func makeExtension() -> DeviceExtension
  func findAdapter(_ e: DeviceExtension, _ c: inout PortConfiguration) -> FindAdapterResult
  func initialize(_ e: DeviceExtension) -> Bool
  func buildIo(_ e: DeviceExtension, _ r: StorRequest) -> Bool
  func startIo(_ e: DeviceExtension, _ r: StorRequest) -> Bool
  func interrupt(_ e: DeviceExtension) -> Bool
  func messageSignaledInterrupt(_ e: DeviceExtension, _ m: UInt32) -> Bool
  func resetBus(_ e: DeviceExtension, _ path: UInt32) -> Bool
  func adapterControl(
    _ e: DeviceExtension, _ t: AdapterControlType, _ p: inout AdapterControlParameters
  ) -> AdapterControlStatus
  func unitControl(_ e: DeviceExtension, _ t: UnitControlType, _ p: inout UnitControlParameters)
    -> UnitControlStatus
  func requestReturned(_ e: DeviceExtension, _ r: StorRequest)
}

struct TypedMiniportEntry<M: Miniport>: MiniportEntry {
  let miniport: M
  let data: MiniportInitializationData
  var extensionType: ObjectIdentifier { ObjectIdentifier(M.Extension.self) }

  init(_ m: M) {
    miniport = m
    data = m.initializationData
  }

  @inline(__always) private func ext(_ e: DeviceExtension) -> M.Extension {
    unsafeDowncast(e, to: M.Extension.self)
  }
  func makeExtension() -> DeviceExtension { M.Extension() }
  func findAdapter(_ e: DeviceExtension, _ c: inout PortConfiguration) -> FindAdapterResult {
    miniport.findAdapter(ext(e), &c)
  }
  func initialize(_ e: DeviceExtension) -> Bool { miniport.initialize(ext(e)) }
  func buildIo(_ e: DeviceExtension, _ r: StorRequest) -> Bool { miniport.buildIo(ext(e), r) }
  func startIo(_ e: DeviceExtension, _ r: StorRequest) -> Bool { miniport.startIo(ext(e), r) }
  func interrupt(_ e: DeviceExtension) -> Bool { miniport.interrupt(ext(e)) }
  func messageSignaledInterrupt(_ e: DeviceExtension, _ m: UInt32) -> Bool {
    miniport.messageSignaledInterrupt(ext(e), messageId: m)
  }
  func resetBus(_ e: DeviceExtension, _ path: UInt32) -> Bool { miniport.resetBus(ext(e), pathId: path) }
  func requestReturned(_ e: DeviceExtension, _ r: StorRequest) { miniport.requestReturned(ext(e), r) }
  func unitControl(_ e: DeviceExtension, _ t: UnitControlType, _ p: inout UnitControlParameters)
    -> UnitControlStatus
  {
    miniport.unitControl(ext(e), t, &p)
  }
  func adapterControl(
    _ e: DeviceExtension, _ t: AdapterControlType, _ p: inout AdapterControlParameters
  ) -> AdapterControlStatus {
    miniport.adapterControl(ext(e), t, &p)
  }
}
