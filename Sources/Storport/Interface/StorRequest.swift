import Synchronization

/// `SRB_FUNCTION_*` (srb.h): what a request asks the miniport to do.
public enum SrbFunction: UInt8, Sendable {
  case executeScsi = 0x00
  case shutdown = 0x07
  case flush = 0x08
  case abortCommand = 0x10
  case resetBus = 0x12
  case resetDevice = 0x13
  case resetLogicalUnit = 0x20
  case power = 0x24
  case pnp = 0x25
}

extension SrbFunction {
  /// The srb.h name (a literal: no allocation when traced).
  public var name: String {
    switch self {
    case .executeScsi: return "SRB_FUNCTION_EXECUTE_SCSI"
    case .shutdown: return "SRB_FUNCTION_SHUTDOWN"
    case .flush: return "SRB_FUNCTION_FLUSH"
    case .abortCommand: return "SRB_FUNCTION_ABORT_COMMAND"
    case .resetBus: return "SRB_FUNCTION_RESET_BUS"
    case .resetDevice: return "SRB_FUNCTION_RESET_DEVICE"
    case .resetLogicalUnit: return "SRB_FUNCTION_RESET_LOGICAL_UNIT"
    case .power: return "SRB_FUNCTION_POWER"
    case .pnp: return "SRB_FUNCTION_PNP"
    }
  }
}

extension SrbFunction {
  /// The srb.h name, interned for the trace (indexed by raw value).
  private static let traceNames: [TraceName?] = (0...255).map {
    SrbFunction(rawValue: UInt8($0)).map { TraceName($0.name) }
  }

  var traceName: TraceName { Self.traceNames[Int(rawValue)]! }
}

/// `SRB_STATUS_*` (srb.h).
public struct SrbStatus: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
  public let rawValue: UInt8
  public init(rawValue: UInt8) { self.rawValue = rawValue }
  public static let pending = SrbStatus(rawValue: 0x00)
  public static let success = SrbStatus(rawValue: 0x01)
  public static let aborted = SrbStatus(rawValue: 0x02)
  public static let error = SrbStatus(rawValue: 0x04)
  public static let busy = SrbStatus(rawValue: 0x05)
  public static let invalidRequest = SrbStatus(rawValue: 0x06)
  public static let noDevice = SrbStatus(rawValue: 0x08)
  public static let timeout = SrbStatus(rawValue: 0x09)
  public static let busReset = SrbStatus(rawValue: 0x0E)
  public static let noHba = SrbStatus(rawValue: 0x11)
  public static let dataOverrunOrUnderrun = SrbStatus(rawValue: 0x12)
  public static let badFunction = SrbStatus(rawValue: 0x22)

  public var description: String {
    switch rawValue {
    case 0x00: return "SRB_STATUS_PENDING"
    case 0x01: return "SRB_STATUS_SUCCESS"
    case 0x02: return "SRB_STATUS_ABORTED"
    case 0x04: return "SRB_STATUS_ERROR"
    case 0x05: return "SRB_STATUS_BUSY"
    case 0x06: return "SRB_STATUS_INVALID_REQUEST"
    case 0x08: return "SRB_STATUS_NO_DEVICE"
    case 0x09: return "SRB_STATUS_TIMEOUT"
    case 0x0E: return "SRB_STATUS_BUS_RESET"
    case 0x11: return "SRB_STATUS_NO_HBA"
    case 0x12: return "SRB_STATUS_DATA_OVERRUN"
    case 0x22: return "SRB_STATUS_BAD_FUNCTION"
    default: return "SRB_STATUS(0x\(String(rawValue, radix: 16)))"
    }
  }
}

/// A request block (`STORAGE_REQUEST_BLOCK` / `SCSI_REQUEST_BLOCK`), the unit of I/O that flows
/// BuildIo → StartIo → RequestComplete. Ownership moves with it: after
/// `StorPortNotification(RequestComplete)` the port owns it again, and a second completion
/// is a verifier violation (rule 72).
public final class StorRequest: @unchecked Sendable {
  enum Owner: UInt8 {
    case caller = 0
    case port = 1
    case miniport = 2
    case completed = 3
  }

  // A request has one owner at a time — the submitter, the port, the miniport, the
  // completion — and the port's queues and locks order the hand-offs, so Swift's dynamic
  // exclusivity checks on every field would be pure cost on the I/O path. Each field is a
  // stored `_name` with `@exclusivity(unchecked)` behind an inlinable accessor: another module
  // that touched the stored property directly would emit its own dynamic check (the attribute
  // does not cross modules; the accessor's body, compiled here, carries it).
  //
  // Checked mode: the miniport writing SrbStatus or DataBuffer of a request it does not own
  // (after completing it, or while the port holds it) is REQUEST_TOUCHED_AFTER_COMPLETION; the
  // owner test is one relaxed load on the miniport's own writes.
  public var function: SrbFunction {
    @inlinable get { _function }
    @inlinable set { _function = newValue }
  }
  @exclusivity(unchecked) @usableFromInline var _function: SrbFunction
  public var pathId: UInt8 {
    @inlinable get { _pathId }
    @inlinable set { _pathId = newValue }
  }
  @exclusivity(unchecked) @usableFromInline var _pathId: UInt8 = 0
  public var targetId: UInt8 {
    @inlinable get { _targetId }
    @inlinable set { _targetId = newValue }
  }
  @exclusivity(unchecked) @usableFromInline var _targetId: UInt8 = 0
  public var lun: UInt8 {
    @inlinable get { _lun }
    @inlinable set { _lun = newValue }
  }
  @exclusivity(unchecked) @usableFromInline var _lun: UInt8 = 0
  /// `SrbStatus`, set by the miniport before completing.
  public var srbStatus: SrbStatus {
    @inlinable get { _srbStatus }
    @inlinable set {
      checkOwnership(writing: "SrbStatus")
      _srbStatus = newValue
    }
  }
  @exclusivity(unchecked) @usableFromInline var _srbStatus: SrbStatus = .pending
  /// `ScsiStatus`.
  public var scsiStatus: UInt8 {
    @inlinable get { _scsiStatus }
    @inlinable set { _scsiStatus = newValue }
  }
  @exclusivity(unchecked) @usableFromInline var _scsiStatus: UInt8 = 0
  /// `DataTransferLength`.
  public var dataTransferLength: UInt32 {
    @inlinable get { _dataTransferLength }
    @inlinable set { _dataTransferLength = newValue }
  }
  @exclusivity(unchecked) @usableFromInline var _dataTransferLength: UInt32 = 0
  /// Free for the submitter (a tag, an index into its own table).
  public var tag: UInt64 {
    @inlinable get { _tag }
    @inlinable set { _tag = newValue }
  }
  @exclusivity(unchecked) @usableFromInline var _tag: UInt64 = 0
  /// The CDB bytes (`Cdb` / `CdbLength`), inline; at most 32.
  @exclusivity(unchecked) public var cdbBytes: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
  public var cdbLength: UInt8 {
    @inlinable get { _cdbLength }
    @inlinable set { _cdbLength = newValue }
  }
  @exclusivity(unchecked) @usableFromInline var _cdbLength: UInt8 = 0
  /// `SRB_FLAGS_DATA_IN` / `_OUT`.
  public var direction: DataDirection {
    @inlinable get { _direction }
    @inlinable set { _direction = newValue }
  }
  @exclusivity(unchecked) @usableFromInline var _direction: DataDirection = .none
  /// The data buffer (`DataBuffer`); `dataTransferLength` bytes of it are the transfer.
  public var dataBuffer: UnsafeMutableRawPointer? {
    @inlinable get { _dataBuffer }
    @inlinable set {
      checkOwnership(writing: "DataBuffer")
      _dataBuffer = newValue
    }
  }
  @exclusivity(unchecked) @usableFromInline var _dataBuffer: UnsafeMutableRawPointer?
  /// Bytes not transferred (`DataTransferLength` is set to the transferred count on return;
  /// this keeps the difference).
  public var residual: Int {
    @inlinable get { _residual }
    @inlinable set { _residual = newValue }
  }
  @exclusivity(unchecked) @usableFromInline var _residual: Int = 0
  /// Autosense: set with `SRB_STATUS_AUTOSENSE_VALID` semantics when `scsiStatus` is CHECK
  /// CONDITION. Raw sense bytes (fixed or descriptor format), at most 32.
  @exclusivity(unchecked) public var senseBytes: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
  public var senseLength: UInt8 {
    @inlinable get { _senseLength }
    @inlinable set { _senseLength = newValue }
  }
  @exclusivity(unchecked) @usableFromInline var _senseLength: UInt8 = 0
  /// `TimeOutValue` in seconds (0: the adapter default).
  public var timeoutSeconds: UInt32 {
    @inlinable get { _timeoutSeconds }
    @inlinable set { _timeoutSeconds = newValue }
  }
  @exclusivity(unchecked) @usableFromInline var _timeoutSeconds: UInt32 = 0
  /// Queue tag the port assigned (for miniports that index hardware slots).
  public var queueTag: UInt32 {
    @inlinable get { _queueTag }
    @inlinable set { _queueTag = newValue }
  }
  @exclusivity(unchecked) @usableFromInline var _queueTag: UInt32 = 0
  /// Pool storage (a pooled request's buffer).
  public internal(set) var ownedBuffer: UnsafeMutableRawBufferPointer? {
    @inlinable get { _ownedBuffer }
    set { _ownedBuffer = newValue }
  }
  @exclusivity(unchecked) @usableFromInline var _ownedBuffer: UnsafeMutableRawBufferPointer?
  /// `SrbExtension`-like word for the miniport.
  public var miniportContext: UInt {
    @inlinable get { _miniportContext }
    @inlinable set { _miniportContext = newValue }
  }
  @exclusivity(unchecked) @usableFromInline var _miniportContext: UInt = 0
  /// Concurrent channel StartIo ran on (StorPortGetStartIoPerfParams), 0 if none.
  public internal(set) var channelNumber: UInt32 {
    @inlinable get { _channelNumber }
    set { _channelNumber = newValue }
  }
  @exclusivity(unchecked) @usableFromInline var _channelNumber: UInt32 = 0
  /// How many times the request has been submitted: a request reused by its submitter is a
  /// new incarnation (what a miniport-side binding keys per-submission state on).
  public internal(set) var submissions: UInt32 {
    @inlinable get { _submissions }
    set { _submissions = newValue }
  }
  @exclusivity(unchecked) @usableFromInline var _submissions: UInt32 = 0
  /// Platform time of submission (ns).
  public internal(set) var submittedAt: UInt64 {
    @inlinable get { _submittedAt }
    set { _submittedAt = newValue }
  }
  @exclusivity(unchecked) @usableFromInline var _submittedAt: UInt64 = 0

  let owner = Atomic<UInt8>(Owner.caller.rawValue)
  /// Consecutive SRB_STATUS_BUSY completions (re-issue backoff).
  @exclusivity(unchecked) var busyRetries: UInt32 = 0
  /// Platform time (ns) of the first SRB_STATUS_BUSY of the current run of them.
  @exclusivity(unchecked) var busySince: UInt64 = 0
  /// Retries after SRB_STATUS_BUS_RESET.
  @exclusivity(unchecked) var resetRetries: UInt32 = 0
  /// The second (platform time / 1 s) at which this request times out; bucket bookkeeping.
  @exclusivity(unchecked) var timeoutEpoch: UInt64 = 0
  @exclusivity(unchecked) var timeoutTracked = false
  /// The port's own request (the FLUSH before ScsiStopAdapter): bypasses the dispatch gates.
  @exclusivity(unchecked) var portInternal = false
  /// What happened to the request since its submission (checked mode).
  @exclusivity(unchecked) public internal(set) var history = RequestHistory()
  /// The request's LUN slot in the port's flow state (-1: not looked up since submit).
  @exclusivity(unchecked) var flowSlot: Int32 = -1
  @exclusivity(unchecked) var flowTable: UInt32 = 0
  /// The request's index in the port's list of requests in the miniport (-1: not there).
  @exclusivity(unchecked) var miniportIndex: Int32 = -1
  @exclusivity(unchecked) var flowKey = 0
  @exclusivity(unchecked) nonisolated(unsafe) var completion: (@Sendable (StorRequest) -> Void)?

  public init(function: SrbFunction = .executeScsi, tag: UInt64 = 0) {
    _function = function
    _tag = tag
  }

  /// Clears a pooled request for reuse (keeps its buffer attached as `dataBuffer`).
  public func reset() {
    function = .executeScsi
    pathId = 0
    targetId = 0
    lun = 0
    _srbStatus = .pending
    scsiStatus = 0
    dataTransferLength = 0
    cdbBytes = (0, 0, 0, 0)
    cdbLength = 0
    direction = .none
    _dataBuffer = ownedBuffer?.baseAddress
    residual = 0
    senseLength = 0
    timeoutSeconds = 0
    channelNumber = 0
    busyRetries = 0
    resetRetries = 0
    timeoutTracked = false
    portInternal = false
    owner.store(Owner.caller.rawValue, ordering: .relaxed)
    completion = nil
  }

  /// Sets the CDB from bytes.
  public func setCdb(_ bytes: [UInt8]) {
    cdbLength = UInt8(min(bytes.count, 32))
    withUnsafeMutableBytes(of: &cdbBytes) { raw in
      for i in 0..<32 { raw[i] = i < bytes.count ? bytes[i] : 0 }
    }
  }

  /// The data buffer as a raw buffer of `dataTransferLength` bytes (empty if none).
  public var data: UnsafeMutableRawBufferPointer {
    UnsafeMutableRawBufferPointer(start: dataBuffer, count: dataBuffer == nil ? 0 : Int(dataTransferLength))
  }

  /// Sense bytes as an array (tests and reports).
  public var sense: [UInt8] {
    withUnsafeBytes(of: senseBytes) { Array($0.prefix(Int(senseLength))) }
  }

  /// Checked on writes of SrbStatus and DataBuffer: one relaxed load when the miniport owns
  /// the request (its normal writes).
  @usableFromInline
  func checkOwnership(writing field: StaticString) {
    if owner.load(ordering: .relaxed) != Owner.miniport.rawValue { writtenOutsideOwnership(field) }
  }

  /// A write of `field` while the miniport does not own the request: a violation when the
  /// miniport made it (inside one of its callbacks, not in the submitter's completion routine).
  @inline(never)
  func writtenOutsideOwnership(_ field: StaticString) {
    guard let current = Processor.currentUnretained else { return }  // the submitter's thread
    let p = current.takeUnretainedValue()
    guard p.hostCodeDepth == 0, let frame = p.currentFrame, frame.role != .portWork,
      let adapter = frame.adapter
    else { return }
    let state: String
    switch Owner(rawValue: owner.load(ordering: .acquiring)) {
    case .completed: state = "after the miniport completed it"
    case .port: state = "while the port holds it (queued, or taken back for re-issue)"
    default: state = "that was never handed to the miniport"
    }
    adapter.violation(
      .requestTouchedAfterCompletion, on: p,
      "\(frame.routine) wrote \(field) of a request (tag \(tag)) \(state)")
  }

  /// True once the port has taken the request back with RequestComplete.
  public var isCompleted: Bool { owner.load(ordering: .acquiring) == Owner.completed.rawValue }
}
