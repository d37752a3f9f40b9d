/// What one iSCSI session's connections share (RFC 7143 §4.2.2, §6.3): its identity (TSIH,
/// ISID, initiator name), the session-wide ("leading only") parameters its leading connection
/// negotiated, and its command numbering — ExpCmdSN and MaxCmdSN are per session, StatSN per
/// connection — with the commands of all its connections counted against one window.
///
/// A session of several connections (MC/S) receives commands on each, in any interleaving of
/// their CmdSNs; the target delivers them in CmdSN order (§4.2.2.1). A command that arrives
/// ahead of ExpCmdSN while a sibling connection may still carry the missing ones waits here
/// (``deferred``) until ExpCmdSN reaches it; ``takeDeferred()`` hands it to its connection.
/// With one connection (TCP keeps order) a gap can never fill, so a command ahead of ExpCmdSN
/// is taken at once, as before.
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

  /// Non-immediate PDUs that arrived ahead of ExpCmdSN, by CmdSN, with the CID they came on
  /// (nil once that connection has left). Only CmdSNs inside the granted window are kept, so
  /// there are at most a window's worth.
  private(set) var deferred: [UInt32: (cid: UInt16?, pdu: ISCSIPDU)] = [:]

  /// How the owner reaches a connection of this session: hand it a deferred PDU; end it (an
  /// implicit logout: it leaves the session at once); be told once it has closed.
  struct Hooks {
    var deliver: (ISCSIPDU) -> Void
    var close: () -> Void
    var whenClosed: (@escaping @Sendable () -> Void) -> Void
  }
  /// The owner's hooks of each full-feature connection, by CID.
  var hooks: [UInt16: Hooks] = [:]

  init(tsih: UInt16) {
    precondition(tsih != 0, "bug in swift-storport: TSIH 0 means 'no session yet' (RFC 7143 §11.12.8)")
    self.tsih = tsih
  }

  /// Whether a command with `cmdSN`, inside the window but ahead of ExpCmdSN, must wait for the
  /// CmdSNs before it: only when a sibling connection may carry them.
  func mustWait(_ cmdSN: UInt32) -> Bool { cmdSN != expCmdSN && members.count > 1 }

  /// Keeps `pdu` (CmdSN `cmdSN`, ahead of ExpCmdSN, inside the window) until ExpCmdSN reaches
  /// it. A second PDU with the same CmdSN is an initiator's error: the first stays.
  func park(_ pdu: ISCSIPDU, cmdSN: UInt32, cid: UInt16) {
    assert(cmdSN != expCmdSN, "bug in swift-storport: parking the command ExpCmdSN names")
    if deferred[cmdSN] == nil { deferred[cmdSN] = (cid, pdu) }
  }

  /// The deferred PDU whose turn it is (its CmdSN is ExpCmdSN), removed; nil when none waits.
  /// One whose connection has left the session is passed over (ExpCmdSN moves past it: its
  /// connection's tasks ended with the connection) and the next is looked at.
  func takeDeferred() -> (cid: UInt16, pdu: ISCSIPDU)? {
    while let next = deferred.removeValue(forKey: expCmdSN) {
      if let cid = next.cid { return (cid, next.pdu) }
      expCmdSN &+= 1
    }
    return nil
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
  /// held for ever).
  func evict(_ cid: UInt16) {
    members[cid] = nil
    hooks[cid] = nil
    for (sn, entry) in deferred where entry.cid == cid { deferred[sn] = (nil, entry.pdu) }
  }
}
