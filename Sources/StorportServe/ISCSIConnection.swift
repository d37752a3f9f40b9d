import NIOCore

/// A CHAP name and secret (RFC 7143 §12.1.3). The secret never appears in logs or answers.
public struct ISCSIChapCredentials: Sendable, Equatable, CustomStringConvertible, CustomReflectable {
  public var user: String
  public var secret: [UInt8]
  /// The user only: a secret never reaches a log through string interpolation or a dump.
  public var description: String { "CHAP user \(user)" }
  public var customMirror: Mirror { Mirror(self, children: ["user": user]) }
  public init(user: String, secret: [UInt8]) {
    self.user = user
    self.secret = secret
  }
}

/// What an iSCSI target serves: its name, where it listens, its logical units, and who may log
/// in.
public struct ISCSITargetConfiguration: Sendable {
  /// The target's iSCSI name (iqn.…).
  public var name: String
  /// `TargetAddress` answered to SendTargets: `HOST:PORT,TPGT`.
  public var address: String
  /// LUN numbers served (REPORT LUNS lists them; others answer LOGICAL UNIT NOT SUPPORTED).
  public var luns: [UInt16]
  /// When set, a normal session's initiator must prove these with CHAP (MD5); discovery too.
  public var chap: ISCSIChapCredentials?
  /// When set, the target proves these to an initiator that asks (mutual CHAP).
  public var mutualChap: ISCSIChapCredentials?
  /// Initiator names that may log in to this target (nil: any). Others get AUTHORIZATION
  /// FAILURE; discovery sessions are not restricted.
  public var allowedInitiators: [String]?
  /// The digest CHAP uses (MD5); required when `chap` is set.
  public var chapDigest: (@Sendable ([UInt8]) -> [UInt8])?
  public init(
    name: String, address: String, luns: [UInt16], chap: ISCSIChapCredentials? = nil,
    mutualChap: ISCSIChapCredentials? = nil, allowedInitiators: [String]? = nil,
    chapDigest: (@Sendable ([UInt8]) -> [UInt8])? = nil
  ) {
    precondition(chap == nil || chapDigest != nil, "CHAP needs its digest")
    self.name = name
    self.address = address
    self.luns = luns
    self.chap = chap
    self.mutualChap = mutualChap
    self.allowedInitiators = allowedInitiators
    self.chapDigest = chapDigest
  }
}

/// One SCSI command ready to run: every Data-Out byte received.
public struct ISCSITask: Sendable, Equatable {
  public var initiatorTaskTag: UInt32
  public var lun: UInt16
  /// The CDB (16 bytes as carried; its opcode tells its real length).
  public var cdb: [UInt8]
  public var isRead: Bool
  public var isWrite: Bool
  /// Expected Data Transfer Length: the initiator's buffer for this command.
  public var expectedLength: Int
  public var dataOut: [UInt8]
  /// What answering it needs.
  public var header: ISCSITaskHeader {
    ISCSITaskHeader(initiatorTaskTag: initiatorTaskTag, expectedLength: expectedLength, isRead: isRead)
  }
}

/// What answering a task needs of its command — its tag, the initiator's expected length and
/// whether it reads — without its CDB and data: a plain value, copied without reference
/// counting on its way to the adapter and back.
public struct ISCSITaskHeader: Sendable, Equatable {
  public var initiatorTaskTag: UInt32
  public var expectedLength: Int
  public var isRead: Bool
}

/// How a task ended, as the owner reports it.
public struct ISCSITaskResult: Sendable, Equatable {
  public var status: UInt8
  public var sense: [UInt8]
  /// Data for a read (at most the expected length), as it left the adapter's buffer: the
  /// Data-In PDUs are written from it without another copy.
  public var dataIn: DataIn
  /// Bytes the command wanted to move beyond the expected length (residual overflow).
  public var overflow: Int
  /// Bytes of the expected length the command itself does not move (residual underflow);
  /// for a read, at least what was not sent.
  public var underflow: Int
  public init(
    status: UInt8, sense: [UInt8] = [], dataIn: DataIn = DataIn(), overflow: Int = 0,
    underflow: Int = 0
  ) {
    self.status = status
    self.sense = sense
    self.dataIn = dataIn
    self.overflow = overflow
    self.underflow = underflow
  }

  /// TASK ABORTED (0x40): the command was aborted by another I_T nexus's task management
  /// (SAM-5 §5.6, TAS one); no data, no sense.
  public static let taskAborted = ISCSITaskResult(status: 0x40)

  /// A result whose read data is `dataIn` (copied into a buffer).
  public init(status: UInt8, sense: [UInt8] = [], dataIn: [UInt8], overflow: Int = 0, underflow: Int = 0) {
    self.init(
      status: status, sense: sense, dataIn: DataIn(dataIn), overflow: overflow,
      underflow: underflow)
  }
}

/// One iSCSI connection's protocol state (RFC 7143, ErrorRecoveryLevel 0; a session may have
/// several connections, whose command numbering ``ISCSISession`` holds), independent of any
/// network code so it can be tested and fuzzed byte by byte:
/// bytes from the initiator go in with ``receive(_:)``; bytes to send and SCSI tasks to run
/// come out as ``Event``s; a finished task goes back in with ``complete(_:_:)``.
///
/// Never trusts the initiator: segment lengths are bounded before anything is allocated, a
/// command's data is bounded by ``maximumTransferBytes``, sequence numbers outside the command
/// window are ignored, a Data-Out out of order draws a CHECK CONDITION, and anything malformed
/// draws a Reject or a login failure — or ends the connection when the stream cannot be trusted
/// any more (a header digest error, an oversize segment).
public struct ISCSIConnection: Sendable {
  public enum Event: Sendable, Equatable {
    /// Bytes to send, whole PDUs.
    case send(ByteBuffer)
    case execute(ISCSITask)
    /// LOGICAL UNIT RESET: reset the unit (the miniport's reset path), then answer with
    /// ``completeReset(initiatorTaskTag:succeeded:)``.
    case resetLogicalUnit(lun: UInt16, initiatorTaskTag: UInt32)
    /// TARGET WARM RESET (`cold`: COLD — afterwards every connection to the target ends):
    /// reset every LU, then ``ISCSIConnection/completeReset(initiatorTaskTag:succeeded:)``.
    case resetTarget(cold: Bool, initiatorTaskTag: UInt32)
    case close(String)
    /// This connection logged out (its own or its session's logout): send the Logout Response
    /// once the commands it ends have left the adapters (RFC 7143 §11.15: the response means
    /// cleanup is done), then close. Their results are not sent.
    case logout(response: ByteBuffer, endsSession: Bool)
  }

  public static let defaultPort = 3260
  /// Our MaxRecvDataSegmentLength.
  public static let receiveSegmentBytes = 262_144
  /// The largest transfer one command may ask for (the disks' MAXIMUM TRANSFER LENGTH,
  /// ``AdapterDisk/largestCommandBytes``).
  public static let maximumTransferBytes = 16 * 1024 * 1024
  /// Commands one session may have in the target at once, on all its connections (waiting for
  /// data or running): the CmdSN window closes as they fill it (MaxCmdSN = ExpCmdSN + free
  /// slots − 1).
  static let maximumOutstanding = 64
  /// Bytes of data the outstanding commands of a session may ask for together; a command that
  /// would go beyond it waits (``waitingForBytes``), its slot taken, until enough has ended.
  static let maximumOutstandingBytes = 64 * 1024 * 1024

  enum Phase: Equatable { case login, fullFeature, closed }

  let target: ISCSITargetConfiguration
  var phase = Phase.login
  var framing = ISCSIFraming(maximumReceiveSegment: 8192)
  var negotiator = ISCSINegotiator(targetMaxRecvDataSegmentLength: ISCSIConnection.receiveSegmentBytes)
  var buffer: [UInt8] = []
  var start = 0

  // Login state.
  var isid: [UInt8] = []
  var tsih: UInt16 = 0
  let assignedTSIH: UInt16
  var initiatorName: String?
  var isDiscovery = false
  var sentPortalGroupTag = false
  var loginStage: UInt8 = 0
  /// CHAP's progress (when the target requires it).
  enum Authentication: Equatable {
    case notStarted
    case methodAgreed
    case challenged(id: UInt8, challenge: [UInt8])
    case done
  }
  var authentication = Authentication.notStarted

  // Sequence numbers.
  /// The target's ping waiting for its NOP-Out: its Target Transfer Tag and when it was sent
  /// (ns, the owner's monotonic clock).
  var pendingPing: (tag: UInt32, sentAt: UInt64)?
  var lastPingTag: UInt32 = 0
  var statSN: UInt32 = 0
  /// The session this connection belongs to: its own from the start (it leads it), or the one
  /// it joins (a login with the session's TSIH). Command numbering is the session's.
  var session: ISCSISession
  /// This connection's CID (RFC 7143 §11.12.4), from its first Login Request.
  var cid: UInt16 = 0
  /// The sessions a login with a TSIH may join, by TSIH (nil: none may be joined).
  let findSession: (@Sendable (UInt16) -> ISCSISession?)?
  /// This connection joined an existing session (it is not its leading connection).
  public internal(set) var joined = false
  /// This connection led a normal or discovery session into the full feature phase.
  public internal(set) var ledSession = false
  /// Its membership of ``session`` (from the full feature phase until it ends).
  var membership: UInt64?
  var isMember: Bool { membership != nil }
  /// The membership it had (kept after it ends: its tasks still in the adapter are known to
  /// the session's held responses by it, ``ISCSISession/key(_:_:)``).
  var memberSerial: UInt64 = 0
  /// The connection ended by a logout — its own (reason 1) or the session's (reason 0,
  /// ``endsSession``) — or an implicit one (its CID reinstated), not by a failure.
  public internal(set) var loggedOut = false
  /// A logout closed the whole session: its other connections end too.
  public internal(set) var endsSession = false
  var expCmdSN: UInt32 {
    get { session.expCmdSN }
    nonmutating set { session.expCmdSN = newValue }
  }
  var grantedMaxCmdSN: UInt32 {
    get { session.grantedMaxCmdSN }
    nonmutating set { session.grantedMaxCmdSN = newValue }
  }
  /// Commands of the whole session in the target; this connection's part is `counted`.
  var outstanding: Int { session.outstanding }
  private var counted = 0
  /// Bytes this connection's outstanding commands may move (the session holds the sum).
  var outstandingBytes = 0 {
    didSet { session.outstandingBytes += outstandingBytes - oldValue }
  }
  /// Free command slots: the window the initiator may use beyond ExpCmdSN.
  var window: UInt32 { UInt32(max(0, Self.maximumOutstanding - outstanding)) }
  /// MaxCmdSN to advertise now: ExpCmdSN + free slots − 1, or the granted one if higher (an
  /// initiator ignores a MaxCmdSN below the last it saw, RFC 7143 §4.2.2.1, so commands up to
  /// it stay acceptable even when an immediate command has taken a slot since).
  var maxCmdSN: UInt32 {
    let fresh = expCmdSN &+ window &- 1
    return Int32(bitPattern: fresh &- grantedMaxCmdSN) > 0 ? fresh : grantedMaxCmdSN
  }

  /// A write waiting for Data-Out.
  struct PendingWrite {
    var task: ISCSITask
    var targetTransferTag: UInt32
    var r2tSN: UInt32 = 0
    /// Bytes asked for by the R2T in force, its offset, and the next DataSN expected in it.
    var burstOffset = 0
    var burstLength = 0
    var nextDataSN: UInt32 = 0
  }
  var pendingWrites: [UInt32: PendingWrite] = [:] {
    didSet { recount() }
  }
  /// A task handed to the owner and not completed.
  struct RunningTask {
    var lun: UInt16
    /// The bytes it holds of the session's budget (``maximumOutstandingBytes``).
    var bytes: Int
    /// Who aborted it, if anyone (``abort(_:by:)``): its result is then not sent.
    var aborted: Abort?
  }
  /// Who aborted a task: a task management function of this I_T nexus (no response is sent
  /// for the task), or another nexus's LU or target reset (the task ends with TASK ABORTED:
  /// SAM-5 §5.6 with the Control mode page's TAS bit one).
  enum Abort { case thisNexus, anotherNexus }
  /// Tasks handed to the owner and not completed, by task tag.
  var running: [UInt32: RunningTask] = [:] {
    didSet { recount() }
  }
  /// Commands accepted (their CmdSNs taken, their form checked) that wait, oldest first, for
  /// the session's outstanding bytes to leave room for their data (``maximumOutstandingBytes``).
  /// They hold their slots, so the window closes on them as on running commands: a client is
  /// slowed by the window, never refused for bytes (TASK SET FULL) while it offers room. Once
  /// one waits, every later command of the session waits behind it (no small command overtakes
  /// a large one for ever). ``startWaiting()`` starts them.
  var waitingForBytes: [WaitingCommand] = [] {
    didSet {
      // Whatever left the list (started, aborted, dropped) gives its place in the session back.
      for w in oldValue where !waitingForBytes.contains(where: { $0.ticket == w.ticket }) {
        session.returnTicket(w.ticket)
      }
      recount()
    }
  }
  /// A command waiting for bytes: its place in the session's order
  /// (``ISCSISession/takeTicket(cid:bytes:)``) and its PDU.
  struct WaitingCommand {
    var ticket: UInt64
    var pdu: ISCSIPDU
  }
  /// Keeps the session's count of outstanding commands equal to the sum of its connections'.
  private mutating func recount() {
    let now = running.count + pendingWrites.count + waitingForBytes.count
    session.outstanding += now - counted
    counted = now
    assert(session.outstanding >= 0, "bug in swift-storport: a session's outstanding commands went negative")
  }
  /// A LOGICAL UNIT or target reset of this connection's is with the owner: another is
  /// refused until it ends (a client cannot pile resets on the adapter).
  var resetInFlight = false
  /// When the login must be complete by (ns, the owner's clock of ``tick(now:silentFor:interval:timeout:)``);
  /// nil: no limit.
  public var loginDeadline: UInt64?
  var nextTransferTag: UInt32 = 1
  /// The task and Target Transfer Tags of aborted writes whose burst's Data-Out is discarded
  /// as it comes (``dropPendingWrite(_:)``), oldest first; at most ``discardedTransferLimit``
  /// (the oldest forgotten: data for it, two windows of aborts later, is handled as any stray
  /// Data-Out — a Reject, or the end of the write its task tag names by then).
  var discardedTransfers: [(itt: UInt32, ttt: UInt32)] = []
  static let discardedTransferLimit = 2 * maximumOutstanding

  /// - Parameters:
  ///   - tsih: the Target Session Identifying Handle this connection's session gets when its
  ///     login completes, if it leads one (non-zero; the server gives each session its own).
  ///   - sessions: the sessions a login naming a TSIH may add this connection to (MC/S), by
  ///     TSIH; nil: such a login fails with SESSION DOES NOT EXIST.
  init(
    target: ISCSITargetConfiguration, initialStatSN: UInt32 = 1, tsih: UInt16 = 1,
    sessions: (@Sendable (UInt16) -> ISCSISession?)?
  ) {
    precondition(tsih != 0, "TSIH 0 means 'no session yet' (RFC 7143 §11.12.8)")
    self.target = target
    statSN = initialStatSN
    assignedTSIH = tsih
    session = ISCSISession(tsih: tsih)
    findSession = sessions
  }

  /// A connection of a single-connection target (no session can be joined).
  public init(target: ISCSITargetConfiguration, initialStatSN: UInt32 = 1, tsih: UInt16 = 1) {
    self.init(target: target, initialStatSN: initialStatSN, tsih: tsih, sessions: nil)
  }

  public var isClosed: Bool { phase == .closed }
  public var isFullFeature: Bool { phase == .fullFeature }
  public var sessionIsDiscovery: Bool { isDiscovery }
  public var negotiated: String {
    let p = negotiator.parameters
    return
      "HeaderDigest=\(p.headerDigest ? "CRC32C" : "None") DataDigest=\(p.dataDigest ? "CRC32C" : "None") "
      + "MaxRecvDataSegmentLength=\(p.initiatorMaxRecvDataSegmentLength) MaxBurstLength=\(p.maxBurstLength) "
      + "FirstBurstLength=\(p.firstBurstLength) ImmediateData=\(p.immediateData ? "Yes" : "No")"
  }

  /// Feeds bytes from the initiator; returns what to do, in order.
  public mutating func receive(_ bytes: [UInt8]) -> [Event] {
    guard phase != .closed else { return [] }
    buffer += bytes
    var events: [Event] = []
    reading: while phase != .closed {
      let pdu: ISCSIPDU
      do throws(ISCSIFraming.Failure) {
        guard let p = try framing.next(buffer, &start) else { break reading }
        pdu = p
      } catch {
        switch error {
        case .dataDigest(let header):
          events += reject(header, .dataDigestError)
          continue reading
        case .headerDigest:
          events += close("header digest error")
        case .tooLong(let n):
          events += close("a data segment of \(n) bytes (the limit is \(framing.maximumReceiveSegment))")
        }
        break reading
      }
      events += handle(pdu)
    }
    // What this data freed (an abort, a write's data refused) may let waiting commands start.
    if session.waitingForBytes > 0 { events += startWaiting() }
    if start > 0 && (start == buffer.count || start > 65536) {
      buffer.removeFirst(start)
      start = 0
    }
    return events
  }

  /// The connection is gone: nothing more is sent, results of running tasks are dropped as they
  /// come back, and it leaves its session. Idempotent.
  public mutating func abandon() {
    phase = .closed
    dropUnstarted()
    // Its running tasks stay counted until they leave the adapter (``complete(_:_:)``, which
    // then sends nothing): a held task management response waits for them still.
    if let m = membership {
      membership = nil
      session.leave(cid, membership: m)
    }
  }

  mutating func close(_ reason: String) -> [Event] {
    phase = .closed
    dropUnstarted()
    return [.close(reason)]
  }

  func encode(_ pdu: ISCSIPDU) -> Event { .send(framing.buffer(pdu)) }

  /// A target PDU stamped with the sequence numbers; `advance`: it carries status (StatSN moves).
  /// (Consuming: the caller's last use hands its header over, so stamping copies nothing.)
  mutating func stamped(_ pdu: consuming ISCSIPDU, statusAt: Int = 24, advance: Bool) -> ISCSIPDU {
    pdu.setBE32(statusAt, statSN)
    if advance { statSN &+= 1 }
    pdu.setBE32(28, expCmdSN)
    grantedMaxCmdSN = maxCmdSN
    pdu.setBE32(32, grantedMaxCmdSN)
    return pdu
  }

  mutating func reject(_ header: [UInt8], _ reason: ISCSIRejectReason) -> [Event] {
    var r = ISCSIPDU(.reject)
    r.header[2] = reason.rawValue
    r.setBE32(16, 0xFFFF_FFFF)
    r.data = header
    return [encode(stamped(r, advance: true))]
  }

  /// Commands that will never run — writes waiting for Data-Out, commands waiting for bytes:
  /// they leave the session's counts.
  mutating func dropUnstarted() {
    for w in pendingWrites.values { outstandingBytes -= w.task.expectedLength }
    pendingWrites.removeAll()
    if !waitingForBytes.isEmpty { waitingForBytes.removeAll() }
  }

  mutating func handle(_ pdu: ISCSIPDU) -> [Event] {
    // A closed connection takes nothing (a waiting command handed to it as it goes).
    guard phase != .closed else { return [] }
    guard let op = pdu.opcode else { return reject(pdu.header, .commandNotSupported) }
    if phase == .login {
      guard op == .loginRequest else {
        return close("\(op) before the login completed")
      }
      return login(pdu)
    }
    // A discovery session carries text requests (SendTargets), pings and its logout only.
    if isDiscovery && ![.textRequest, .nopOut, .logoutRequest].contains(op) {
      return reject(pdu.header, .protocolError)
    }
    switch op {
    case .loginRequest:
      return reject(pdu.header, .protocolError)
    case .nopOut: return nopOut(pdu)
    case .scsiCommand: return scsiCommand(pdu)
    case .scsiDataOut: return dataOut(pdu)
    case .textRequest: return text(pdu)
    case .logoutRequest: return logout(pdu)
    case .taskManagementRequest: return taskManagement(pdu)
    default:
      return reject(pdu.header, .commandNotSupported)
    }
  }

  // MARK: - Command numbering

  enum Admission { case now, later, never }

  /// Whether a PDU numbered with CmdSN is handled now: immediate ones always are; a
  /// non-immediate one in the window is (then ExpCmdSN moves past it) unless it is ahead of
  /// ExpCmdSN in a session of several connections — it waits in the session (`later`) until
  /// the CmdSNs before it have come, on whichever connection. Outside the window it is ignored
  /// (`never`, RFC 7143 §4.2.2.1).
  mutating func admit(_ pdu: ISCSIPDU) -> Admission {
    if pdu.isImmediate { return .now }
    let cmdSN = pdu.be32(24)
    let ahead = cmdSN &- expCmdSN
    guard ahead < maxCmdSN &- expCmdSN &+ 1 else { return .never }
    // Only gaps need to know what each connection has sent (a single connection with nothing
    // waiting keeps no record: no dictionary write per command on the common path).
    if session.connectionCount > 1 || !session.deferred.isEmpty { session.sent(cmdSN, by: cid) }
    // A SCSI command a task management function aborted before it came takes its CmdSN and
    // goes no further.
    if !session.abortedRanges.isEmpty && pdu.opcode == .scsiCommand
      && session.wasAborted(cmdSN: cmdSN, lun: pdu.lun)
    {
      if session.mustWait(cmdSN) { session.park(pdu, cmdSN: cmdSN, cid: nil) } else { expCmdSN = cmdSN &+ 1 }
      return .never
    }
    if session.mustWait(cmdSN) {
      session.park(pdu, cmdSN: cmdSN, cid: cid)
      return .later
    }
    expCmdSN = cmdSN &+ 1
    return .now
  }

  /// ``admit(_:)`` is `now`.
  mutating func accept(_ pdu: ISCSIPDU) -> Bool { admit(pdu) == .now }
}
