/// What one iSCSI session's connections share (RFC 7143 §4.2.2, §6.3): its identity (TSIH,
/// ISID, initiator name), the session-wide ("leading only") parameters its leading connection
/// negotiated, and its command numbering — ExpCmdSN and MaxCmdSN are per session, StatSN per
/// connection — with the commands of all its connections counted against one window.
///
/// A session of several connections (MC/S) receives commands on each, in any interleaving of
/// their CmdSNs; the target delivers them in CmdSN order (§4.2.2.1). A command that arrives
/// ahead of ExpCmdSN while a sibling connection may still carry the missing ones waits here
/// (``deferred``) until ExpCmdSN reaches it; ``takeDeferred()`` hands it to its connection.
/// With one connection (TCP keeps order) a gap can never fill: a command ahead of ExpCmdSN is
/// taken at once, and commands left waiting when a session drops to one connection are handed
/// out in CmdSN order across their gaps — ExpCmdSN never passes a command still held.
///
/// Task management spans the session: a function's response waits for the aborted tasks of
/// every connection (``hold(cid:initiatorTaskTag:awaiting:)``), and commands numbered below it
/// that have not been delivered yet — waiting here, or still to arrive — are aborted by CmdSN
/// range (``abort(from:to:lun:)``), as RFC 7143 §11.5.1 has it.
///
/// Not locked: every connection of a target runs on the server's one event loop, and only
/// there is a session touched.
final class ISCSISession: @unchecked Sendable {
  /// Connections one session may have (MaxConnections is answered with at most this).
  static let maximumConnections = 8

  /// The session's TSIH (non-zero), given when its leading connection's login began.
  let tsih: UInt16
  /// The initiator port's ISID and name (set when the leading login completes).
  var isid: [UInt8] = []
  var initiatorName = ""
  var isDiscovery = false
  /// The leading connection's negotiated parameters; its leading-only keys bind every
  /// connection of the session.
  var parameters = ISCSIParameters()

  /// Its connections in the full feature phase: CID → membership (a serial, so a connection
  /// whose CID was since taken over — reinstated — cannot remove its successor when it goes).
  private(set) var members: [UInt16: UInt64] = [:]
  private var lastMembership: UInt64 = 0
  /// The highest CmdSN each connection has sent (by CID): a connection sends its commands in
  /// increasing CmdSN order (§4.2.2.1), so a gap below it is one it will never fill.
  private var lastSent: [UInt16: UInt32] = [:]
  var connectionCount: Int { members.count }
  /// The owner has ended it (its last connection left, or it was reinstated).
  var hasEnded = false
  /// The owner's record of the LU reset generations this session's I_T nexus has seen (one
  /// UNIT ATTENTION per reset per nexus, whichever connection carries it).
  var resetsSeen: [UInt16: UInt64] = [:]

  // MARK: Command numbering (per session)

  var expCmdSN: UInt32 = 0
  /// The highest MaxCmdSN advertised so far on any connection (never lowered).
  var grantedMaxCmdSN: UInt32 = 0
  /// Commands of all its connections in the target (waiting for data or running).
  var outstanding = 0
  /// Bytes of data those commands may ask for together.
  var outstandingBytes = 0
  /// The commands of its connections waiting for those bytes to leave room
  /// (``ISCSIConnection/waitingForBytes``), in the order they came on any connection, with
  /// the bytes each asks for: a command starts only when it is first here, so none overtakes
  /// another across connections (no connection's traffic starves a sibling's large command).
  private(set) var waitingOrder: [(ticket: UInt64, cid: UInt16, bytes: Int)] = []
  private var lastTicket: UInt64 = 0
  var waitingForBytes: Int { waitingOrder.count }

  /// A place at the end of that order for a command of connection `cid` asking for `bytes`.
  func takeTicket(cid: UInt16, bytes: Int) -> UInt64 {
    lastTicket += 1
    waitingOrder.append((lastTicket, cid, bytes))
    return lastTicket
  }

  /// The command holding `ticket` started, or will never start.
  func returnTicket(_ ticket: UInt64) {
    guard let i = waitingOrder.firstIndex(where: { $0.ticket == ticket }) else {
      preconditionFailure("bug in swift-storport: ticket \(ticket) returned twice")
    }
    waitingOrder.remove(at: i)
  }

  /// The connection whose waiting command is first and fits in the bytes now free, if any.
  func nextToStart(limit: Int) -> UInt16? {
    guard let first = waitingOrder.first, outstandingBytes + first.bytes <= limit else { return nil }
    return first.cid
  }

  /// Non-immediate PDUs that arrived ahead of ExpCmdSN, by CmdSN, with the CID they came on
  /// (nil once that connection has left, or a task management function aborted it: its CmdSN
  /// is passed over). Only CmdSNs inside the granted window are kept, so there are at most a
  /// window's worth.
  private(set) var deferred: [UInt32: (cid: UInt16?, pdu: ISCSIPDU)] = [:]

  /// CmdSN ranges [from, to) whose commands a task management function aborted before they
  /// were delivered (for `lun`, or any LUN when nil): such a command is dropped when it comes.
  /// Pruned once ExpCmdSN has passed a range's end.
  private(set) var abortedRanges: [(from: UInt32, to: UInt32, lun: UInt64?)] = []

  /// A task management response waiting for the aborted tasks it covers to end (SAM-5: the
  /// function completes after the tasks it affects), on any connection of the session: keys of
  /// ``key(_:_:)`` (by membership, not CID: a connection that reinstated a CID may reuse a tag
  /// of its predecessor's task still in the adapter).
  /// A response held until tasks leave the adapter: a task management function's, or a Logout
  /// Response for a sibling connection the logout closed (RFC 7143 §11.15: cleanup done).
  struct HeldResponse {
    enum Kind { case taskManagement, logout }
    var cid: UInt16
    var initiatorTaskTag: UInt32
    var kind: Kind
    var awaiting: Set<UInt64>
  }
  private(set) var held: [HeldResponse] = []

  /// How the owner reaches a connection of this session: hand it a deferred PDU; end it (an
  /// implicit logout: it leaves the session at once); be told once it has closed; abort its
  /// tasks of a LUN (returning the running ones awaited); abort them for another nexus's
  /// reset; send a held task management response of its; start its commands waiting for
  /// bytes.
  struct Hooks {
    var deliver: (ISCSIPDU) -> Void
    var close: () -> Void
    var whenClosed: (@escaping @Sendable () -> Void) -> Void
    var abort: (_ lun: UInt16?) -> Set<UInt32>
    /// Another I_T nexus reset `lun` (nil: every LU): TASK ABORTED for this connection's tasks
    /// there (``ISCSIConnection/abort(_:by:)``), at once.
    var anotherNexusReset: (_ lun: UInt16?) -> Void
    var answer: (_ held: HeldResponse) -> Void
    /// Start its commands waiting for bytes that now fit (on a later turn of the loop).
    var resume: () -> Void
  }
  /// The owner's hooks of each full-feature connection, by CID.
  var hooks: [UInt16: Hooks] = [:]

  init(tsih: UInt16) {
    precondition(tsih != 0, "bug in swift-storport: TSIH 0 means 'no session yet' (RFC 7143 §11.12.8)")
    self.tsih = tsih
  }

  /// Whether a command with `cmdSN`, inside the window but ahead of ExpCmdSN, must wait for the
  /// CmdSNs before it: when a sibling connection may carry them, or commands are already
  /// waiting (they go first).
  func mustWait(_ cmdSN: UInt32) -> Bool { cmdSN != expCmdSN && (members.count > 1 || !deferred.isEmpty) }

  /// Keeps `pdu` (CmdSN `cmdSN`, ahead of ExpCmdSN, inside the window) until its turn; `cid`
  /// nil: it only holds its CmdSN (it is dropped when its turn comes). A second PDU with the
  /// same CmdSN is an initiator's error: the first stays, and the second is dropped unanswered
  /// (as a command outside the window is).
  func park(_ pdu: ISCSIPDU, cmdSN: UInt32, cid: UInt16?) {
    assert(cmdSN != expCmdSN, "bug in swift-storport: parking the command ExpCmdSN names")
    if deferred[cmdSN] == nil { deferred[cmdSN] = (cid, pdu) }
  }

  /// Connection `cid` sent a command numbered `cmdSN` (non-immediate, inside the window).
  func sent(_ cmdSN: UInt32, by cid: UInt16) {
    if let last = lastSent[cid], cmdSN &- last >= 1 << 31 { return }  // not beyond its last
    lastSent[cid] = cmdSN
  }

  /// Whether no connection of the session can still send the command numbered `cmdSN`: each has
  /// sent one numbered beyond it (a connection that left sends nothing more).
  func cannotCome(_ cmdSN: UInt32) -> Bool {
    members.keys.allSatisfy { cid in
      guard let last = lastSent[cid] else { return false }
      let beyond = last &- cmdSN
      return beyond != 0 && beyond < 1 << 31
    }
  }

  /// The waiting PDU whose turn it is, removed (ExpCmdSN is then its CmdSN); nil when none's
  /// turn has come. Its turn: its CmdSN is ExpCmdSN, or every CmdSN from ExpCmdSN up to it is a
  /// gap no connection can fill any more (``cannotCome(_:)``: with one connection left, any gap
  /// below what it sent). One whose connection has left (or that was aborted) is passed over:
  /// ExpCmdSN moves past it and the next is looked at.
  func takeDeferred() -> (cid: UInt16, pdu: ISCSIPDU)? {
    while !deferred.isEmpty {
      while deferred[expCmdSN] == nil {
        guard cannotCome(expCmdSN) else { return nil }
        expCmdSN &+= 1
      }
      let next = deferred.removeValue(forKey: expCmdSN)!
      if let cid = next.cid { return (cid, next.pdu) }
      expCmdSN &+= 1
    }
    return nil
  }

  /// The command numbered `cmdSN` will not come (ABORT TASK of a task not received: RFC 7143
  /// §11.5.1 has the target consider it received): its CmdSN is passed over when its turn
  /// comes, and if it does arrive first it is dropped.
  func consumeAbsent(_ cmdSN: UInt32) {
    if cmdSN == expCmdSN {
      expCmdSN &+= 1
    } else if let entry = deferred[cmdSN] {
      deferred[cmdSN] = (nil, entry.pdu)
    } else {
      deferred[cmdSN] = (nil, ISCSIPDU(.nopOut))
    }
  }

  /// Drops the waiting command of connection `cid` with task tag `tag` (ABORT TASK): its CmdSN
  /// is passed over when its turn comes. Whether one was waiting.
  func abortWaiting(tag: UInt32, cid: UInt16) -> Bool {
    guard
      let (sn, entry) = deferred.first(where: { $0.value.cid == cid && $0.value.pdu.initiatorTaskTag == tag })
    else { return false }
    deferred[sn] = (nil, entry.pdu)
    return true
  }

  /// Aborts the commands numbered [from, to) that have not been delivered — waiting here, or
  /// still to come — for LUN field `lun` (nil: any). Callers keep the range inside the window.
  /// Those waiting are always aborted; false when the range could not be kept for those still
  /// to come (``maximumAbortedRanges`` are kept already).
  @discardableResult
  func abort(from: UInt32, to: UInt32, lun: UInt64?) -> Bool {
    guard to &- from != 0, to &- from < 1 << 31 else { return true }
    for (sn, entry) in deferred where sn &- from < to &- from && (lun == nil || entry.pdu.lun == lun) {
      deferred[sn] = (nil, entry.pdu)
    }
    _ = wasAborted(cmdSN: from, lun: 0)  // forgets the ranges ExpCmdSN has passed
    // A range already covered adds nothing.
    if abortedRanges.contains(where: {
      from &- $0.from <= $0.to &- $0.from && to &- $0.from <= $0.to &- $0.from
        && ($0.lun == nil || $0.lun == lun)
    }) {
      return true
    }
    guard abortedRanges.count < Self.maximumAbortedRanges else { return false }
    abortedRanges.append((from, to, lun))
    return true
  }

  /// Aborted CmdSN ranges kept at once (each inside the window; past it a task management
  /// function is rejected and may be retried).
  static let maximumAbortedRanges = 64

  /// Whether a command arriving with `cmdSN` and LUN field `lun` was aborted before it came
  /// (and ranges ExpCmdSN has passed are forgotten).
  func wasAborted(cmdSN: UInt32, lun: UInt64) -> Bool {
    abortedRanges.removeAll { ($0.to &- expCmdSN) >= 1 << 31 || $0.to == expCmdSN }
    return abortedRanges.contains { cmdSN &- $0.from < $0.to &- $0.from && ($0.lun == nil || $0.lun == lun) }
  }

  // MARK: Held task management responses

  /// A task's key: the membership of its connection (unique for the session's life) and its tag.
  static func key(_ membership: UInt64, _ tag: UInt32) -> UInt64 { membership << 32 | UInt64(tag) }

  var heldCount: Int { held.count }

  /// Holds connection `cid`'s response to `tag` (a task management function's, or a logout's)
  /// until the tasks of `awaiting` have ended.
  func hold(
    cid: UInt16, initiatorTaskTag tag: UInt32, awaiting: Set<UInt64>,
    kind: HeldResponse.Kind = .taskManagement
  ) {
    precondition(!awaiting.isEmpty, "bug in swift-storport: a response held for nothing")
    held.append(HeldResponse(cid: cid, initiatorTaskTag: tag, kind: kind, awaiting: awaiting))
  }

  /// Tasks of `keys` have left the adapter: the held responses now due, in the order they were
  /// held.
  func ended(_ keys: some Sequence<UInt64>) -> [HeldResponse] {
    guard !held.isEmpty else { return [] }
    var due: [HeldResponse] = []
    var still: [HeldResponse] = []
    for key in keys { for i in held.indices { held[i].awaiting.remove(key) } }
    for h in held {
      if h.awaiting.isEmpty { due.append(h) } else { still.append(h) }
    }
    held = still
    return due
  }

  /// Hands every waiting command whose turn has come to its connection's `deliver`, in CmdSN
  /// order; one `deliver` does not take (its connection is going: ExpCmdSN did not move) is
  /// passed over, so the commands after it are not held for ever. The owner calls this after
  /// each read; tests call it where the owner would.
  func deliverWaiting(_ deliver: (UInt16, ISCSIPDU) -> Void) {
    while let (cid, pdu) = takeDeferred() {
      let before = expCmdSN
      deliver(cid, pdu)
      if expCmdSN == before { expCmdSN &+= 1 }
    }
  }

  /// Connection `cid` enters the full feature phase of this session; returns its membership.
  func enter(_ cid: UInt16) -> UInt64 {
    precondition(members[cid] == nil, "bug in swift-storport: CID \(cid) entered a session twice")
    lastMembership &+= 1
    members[cid] = lastMembership
    return lastMembership
  }

  /// The connection holding `membership` has ended (nothing when its CID has a newer holder).
  func leave(_ cid: UInt16, membership: UInt64) {
    guard members[cid] == membership else { return }
    evict(cid)
  }

  /// Whoever holds `cid` is no longer of the session (it ended, or is being ended): what it
  /// parked will be passed over (its CmdSNs stay taken, so the commands after them are not
  /// held for ever), and held responses of its are dropped (nobody is there to answer).
  func evict(_ cid: UInt16) {
    members[cid] = nil
    hooks[cid] = nil
    for (sn, entry) in deferred where entry.cid == cid { deferred[sn] = (nil, entry.pdu) }
    held.removeAll { $0.cid == cid }
  }
}
