/// The miniport entry point (or port activity) a processor is executing — the "role" half of
/// the execution context. Names are the Storport routine names.
public enum CallbackRole: UInt8, Sendable, CaseIterable, CustomStringConvertible {
  /// Port or harness code on a processor; not a miniport callback.
  case portWork
  case findAdapter, initialize, passiveInitialize, adapterControl
  case buildIo, startIo, interrupt, messageSignaledInterrupt
  case timer, timerEx, dpc, resetBus, synchronizedAccess
  case workItem, unitControl

  /// The Storport name of the role (HW_* role type / routine).
  public var description: String {
    switch self {
    case .portWork: return "PortWork"
    case .findAdapter: return "HwStorFindAdapter"
    case .initialize: return "HwStorInitialize"
    case .passiveInitialize: return "HwStorPassiveInitializeRoutine"
    case .adapterControl: return "HwStorAdapterControl"
    case .buildIo: return "HwStorBuildIo"
    case .startIo: return "HwStorStartIo"
    case .interrupt: return "HwStorInterrupt"
    case .messageSignaledInterrupt: return "HwMSInterruptRoutine"
    case .timer: return "HwStorTimer"
    case .timerEx: return "HW_TIMER_EX"
    case .dpc: return "HwStorDpcRoutine"
    case .resetBus: return "HwStorResetBus"
    case .synchronizedAccess: return "StorPortSynchronizeAccess routine"
    case .workItem: return "HwStorWorkItem"
    case .unitControl: return "HwStorUnitControl"
    }
  }
}
