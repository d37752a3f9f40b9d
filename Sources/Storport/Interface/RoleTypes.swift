/// Function role types (spec §10.1, R-T20): declare each routine with its role type first,
/// as `HW_TIMER MyHwTimer;` does in C. The role is part of the type, so passing a DPC routine
/// where a timer routine is expected does not compile — the check SDV makes from annotations.
///
///     let watchdog = HwTimer<NvmeExtension>("NvmeWatchdog") { ext in … }
///     ext.port.requestTimerCall(watchdog, microseconds: 10_000)

/// Type-erased timer routine stored by the port.
struct ErasedTimer: Sendable {
  /// The routine's name, interned once (copying the routine retains only its closure).
  let traceName: TraceName
  var name: String { traceName.description }
  let call: @Sendable (DeviceExtension) -> Void
}

/// `HW_TIMER` — `VOID HwStorTimer(PVOID DeviceExtension)`: the adapter timer routine armed with
/// `StorPortNotification(RequestTimerCall, …)`.
public struct HwTimer<Extension: DeviceExtension>: Sendable {
  public let name: String
  let erased: ErasedTimer

  public init(_ name: String, _ routine: @escaping @Sendable (Extension) -> Void) {
    self.name = name
    erased = ErasedTimer(traceName: TraceName(name)) { routine(unsafeDowncast($0, to: Extension.self)) }
  }
}

/// `HW_TIMER_EX` — `VOID TimerCallback(PVOID DeviceExtension, PVOID Context)`: an extended
/// timer routine for `StorPortRequestTimer`.
public struct HwTimerEx<Extension: DeviceExtension>: Sendable {
  public let name: String
  let erased: ErasedTimerEx

  public init(_ name: String, _ routine: @escaping @Sendable (Extension, UInt) -> Void) {
    self.name = name
    erased = ErasedTimerEx(traceName: TraceName(name)) { routine(unsafeDowncast($0, to: Extension.self), $1) }
  }
}

struct ErasedTimerEx: Sendable {
  /// The routine's name, interned once (copying the routine retains only its closure).
  let traceName: TraceName
  var name: String { traceName.description }
  let call: @Sendable (DeviceExtension, UInt) -> Void
}

/// `HW_DPC_ROUTINE` — `BOOLEAN HwStorDpcRoutine(PSTOR_DPC Dpc, PVOID HwDeviceExtension,
/// PVOID SystemArgument1, PVOID SystemArgument2)`. Returns `Bool` as the DDI page declares
/// (D1); the port records the value in the trace and never uses it for scheduling (rule 37).
public struct HwDpcRoutine<Extension: DeviceExtension>: Sendable {
  public let name: String
  let erased: ErasedDpcRoutine

  public init(
    _ name: String, _ routine: @escaping @Sendable (StorDpc, Extension, UInt, UInt) -> Bool
  ) {
    self.name = name
    erased = ErasedDpcRoutine(traceName: TraceName(name)) {
      routine($0, unsafeDowncast($1, to: Extension.self), $2, $3)
    }
  }
}

struct ErasedDpcRoutine: Sendable {
  /// The routine's name, interned once (copying the routine retains only its closure).
  let traceName: TraceName
  var name: String { traceName.description }
  let call: @Sendable (StorDpc, DeviceExtension, UInt, UInt) -> Bool
}

/// `HW_PASSIVE_INITIALIZE_ROUTINE` — `BOOLEAN HwStorPassiveInitializeRoutine(PVOID)`: runs at
/// PASSIVE_LEVEL after HwStorInitialize when enabled with StorPortEnablePassiveInitialization.
public struct HwPassiveInitializeRoutine<Extension: DeviceExtension>: Sendable {
  public let name: String
  let call: @Sendable (DeviceExtension) -> Bool

  public init(_ name: String, _ routine: @escaping @Sendable (Extension) -> Bool) {
    self.name = name
    call = { routine(unsafeDowncast($0, to: Extension.self)) }
  }
}

/// `STOR_SYNCHRONIZED_ACCESS` — `BOOLEAN (*)(PVOID HwDeviceExtension, PVOID Context)`: run by
/// StorPortSynchronizeAccess exclusively with the ISR.
public struct HwSynchronizedAccess<Extension: DeviceExtension>: Sendable {
  public let name: String
  let call: @Sendable (DeviceExtension, UInt) -> Bool

  public init(_ name: String, _ routine: @escaping @Sendable (Extension, UInt) -> Bool) {
    self.name = name
    call = { routine(unsafeDowncast($0, to: Extension.self), $1) }
  }
}

/// The fixed entry points' role types (HW_INITIALIZATION_DATA fields), as Swift function
/// types; ``Miniport`` requires one of each.
public typealias HwFindAdapter<E: DeviceExtension> = (E, inout PortConfiguration) -> FindAdapterResult
/// `HW_INITIALIZE`
public typealias HwInitialize<E: DeviceExtension> = (E) -> Bool
/// `HW_BUILDIO`
public typealias HwBuildIo<E: DeviceExtension> = (E, StorRequest) -> Bool
/// `HW_STARTIO`
public typealias HwStartIo<E: DeviceExtension> = (E, StorRequest) -> Bool
/// `HW_INTERRUPT`
public typealias HwInterrupt<E: DeviceExtension> = (E) -> Bool
/// `HW_MESSAGE_SIGNALED_INTERRUPT_ROUTINE`
public typealias HwMessageSignaledInterruptRoutine<E: DeviceExtension> = (E, UInt32) -> Bool
/// `HW_RESET_BUS`
public typealias HwResetBus<E: DeviceExtension> = (E, UInt32) -> Bool
/// `HW_ADAPTER_CONTROL`
public typealias HwAdapterControl<E: DeviceExtension> = (
  E, AdapterControlType, inout AdapterControlParameters
) -> AdapterControlStatus
