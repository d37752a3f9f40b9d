/// A call the port makes into a miniport: which entry point, with what it depends on.
enum CallbackKind: Equatable, Sendable {
  case findAdapter, initialize, passiveInitialize
  case adapterControl(AdapterControlType)
  case buildIo, startIo
  case interrupt
  case messageSignaledInterrupt(UInt32)
  case timer, timerEx, dpc, resetBus, synchronizedAccess
  case workItem
  case unitControl
  /// Port or harness code on a processor (not a miniport callback).
  case portWork

  /// The role the callback's frame, counters and reports carry.
  var role: CallbackRole {
    switch self {
    case .findAdapter: return .findAdapter
    case .initialize: return .initialize
    case .passiveInitialize: return .passiveInitialize
    case .adapterControl: return .adapterControl
    case .buildIo: return .buildIo
    case .startIo: return .startIo
    case .interrupt: return .interrupt
    case .messageSignaledInterrupt: return .messageSignaledInterrupt
    case .timer: return .timer
    case .timerEx: return .timerEx
    case .dpc: return .dpc
    case .resetBus: return .resetBus
    case .synchronizedAccess: return .synchronizedAccess
    case .workItem: return .workItem
    case .unitControl: return .unitControl
    case .portWork: return .portWork
    }
  }
}

/// The port locks held around a callback (beyond the IRQL).
struct PortLockSet: OptionSet, Sendable {
  let rawValue: UInt8
  /// The StartIo lock.
  static let startIo = PortLockSet(rawValue: 1)
  /// One free concurrent channel (STOR_PERF_CONCURRENT_CHANNELS), the processor's own if free.
  static let channel = PortLockSet(rawValue: 2)
  /// Every concurrent channel: no StartIo may run.
  static let allChannels = PortLockSet(rawValue: 4)
  /// The Interrupt lock, and in per-message mode every message lock with it (R-L17, D4).
  static let interrupt = PortLockSet(rawValue: 8)
  /// Only the lock of the interrupting MSI message (InterruptSynchronizePerMessage).
  static let message = PortLockSet(rawValue: 16)
}

/// What about an adapter decides its callbacks' contexts (fixed once it has started).
struct AdapterShape: Equatable, Sendable {
  var isVirtual: Bool
  var isHalfDuplex: Bool
  /// Concurrent StartIo channels in force (more than 1: StartIo runs on a channel).
  var channels: Int
  /// InterruptSynchronizePerMessage with message locks.
  var perMessage: Bool

  /// One word (never 0): bit 0 set, bits 1–3 the flags, bits 8… the channel count.
  var packed: UInt64 {
    1 | (isVirtual ? 2 : 0) | (isHalfDuplex ? 4 : 0) | (perMessage ? 8 : 0) | UInt64(channels) << 8
  }
}

extension AdapterShape {
  init(packed: UInt64) {
    precondition(packed & 1 == 1, "bug in swift-storport: an adapter shape word without its marker")
    self.init(
      isVirtual: packed & 2 != 0, isHalfDuplex: packed & 4 != 0, channels: Int(packed >> 8),
      perMessage: packed & 8 != 0)
  }
}

/// The context every call into a miniport gets — the heart of the model, in one table (spec
/// §5.3, §6, D7, D12): the IRQL it runs at, the port locks held around it, the port locks the
/// routine may take itself, and whether it is *gated* (it starts only while the adapter
/// accepts callbacks, and stop / remove wait for it to end, D13).
///
/// | callback | IRQL | port locks held | may acquire | gated |
/// |---|---|---|---|---|
/// | HwStorFindAdapter | PASSIVE | – | – | no |
/// | HwStorInitialize | DIRQL (virtual: DISPATCH) | Interrupt (virtual: –) | – | no |
/// | HwStorPassiveInitializeRoutine | PASSIVE | – | – | no |
/// | HwStorAdapterControl | PASSIVE | – | all | no |
/// | … ScsiStopAdapter / ScsiRestartAdapter | DIRQL | Interrupt | – | no |
/// | HwStorBuildIo | DISPATCH | – | all | no |
/// | HwStorStartIo, full duplex | DISPATCH | StartIo | DPC, Interrupt | yes |
/// | … half duplex | DIRQL | Interrupt | – | yes |
/// | … concurrent channels | DISPATCH | a channel | all | yes |
/// | … virtual miniport | DISPATCH | – | all | yes |
/// | HwStorInterrupt | DIRQL | Interrupt | – | yes |
/// | HwMSInterruptRoutine | DIRQL | Interrupt, or its message lock (per-message) | – | yes |
/// | HwStorTimer, HW_TIMER_EX, full duplex | DISPATCH | StartIo | Interrupt | yes |
/// | … half duplex | DIRQL | StartIo, Interrupt | – | yes |
/// | HwStorDpcRoutine | DISPATCH | – | all | yes |
/// | HwStorResetBus, full duplex | DISPATCH | StartIo, all channels | Interrupt | yes |
/// | … half duplex | DIRQL | StartIo, all channels, Interrupt | – | yes |
/// | StorPortSynchronizeAccess routine | DIRQL | Interrupt | – | no |
/// | HwStorWorkItem | PASSIVE | – | all | yes |
/// | HwStorUnitControl | PASSIVE | – | all | yes |
/// | port work (harness) | DISPATCH | – | all | no |
struct CallbackContext: Equatable, Sendable {
  var irql: Irql
  var portLocks: PortLockSet
  var allowed: LockMask
  var gated: Bool

  static func of(_ kind: CallbackKind, _ shape: AdapterShape) -> CallbackContext {
    let dirqlWithInterrupt = CallbackContext(irql: .device, portLocks: .interrupt, allowed: [], gated: false)
    switch kind {
    case .findAdapter, .passiveInitialize:
      return CallbackContext(irql: .passive, portLocks: [], allowed: [], gated: false)
    case .initialize:
      return shape.isVirtual
        ? CallbackContext(irql: .dispatch, portLocks: [], allowed: [], gated: false) : dirqlWithInterrupt
    case .adapterControl(let type):
      if type == .stopAdapter || type == .restartAdapter { return dirqlWithInterrupt }
      return CallbackContext(irql: .passive, portLocks: [], allowed: .all, gated: false)
    case .buildIo:
      return CallbackContext(irql: .dispatch, portLocks: [], allowed: .all, gated: false)
    case .startIo:
      if shape.isVirtual {
        return CallbackContext(irql: .dispatch, portLocks: [], allowed: .all, gated: true)
      }
      if shape.isHalfDuplex {
        return CallbackContext(irql: .device, portLocks: .interrupt, allowed: [], gated: true)
      }
      if shape.channels > 1 {
        return CallbackContext(irql: .dispatch, portLocks: .channel, allowed: .all, gated: true)
      }
      return CallbackContext(irql: .dispatch, portLocks: .startIo, allowed: [.dpc, .interrupt], gated: true)
    case .interrupt:
      return CallbackContext(irql: .device, portLocks: .interrupt, allowed: [], gated: true)
    case .messageSignaledInterrupt:
      return CallbackContext(
        irql: .device, portLocks: shape.perMessage ? .message : .interrupt, allowed: [], gated: true)
    case .timer, .timerEx:
      return shape.isHalfDuplex
        ? CallbackContext(irql: .device, portLocks: [.startIo, .interrupt], allowed: [], gated: true)
        : CallbackContext(irql: .dispatch, portLocks: .startIo, allowed: .interrupt, gated: true)
    case .dpc:
      return CallbackContext(irql: .dispatch, portLocks: [], allowed: .all, gated: true)
    case .resetBus:
      return shape.isHalfDuplex
        ? CallbackContext(
          irql: .device, portLocks: [.startIo, .allChannels, .interrupt], allowed: [], gated: true)
        : CallbackContext(
          irql: .dispatch, portLocks: [.startIo, .allChannels], allowed: .interrupt, gated: true)
    case .synchronizedAccess:
      return dirqlWithInterrupt
    case .workItem, .unitControl:
      return CallbackContext(irql: .passive, portLocks: [], allowed: .all, gated: true)
    case .portWork:
      return CallbackContext(irql: .dispatch, portLocks: [], allowed: .all, gated: false)
    }
  }
}
