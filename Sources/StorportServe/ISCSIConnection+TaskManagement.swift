import NIOCore

/// Task management (RFC 7143 §11.5, SAM-5 §7): aborts by this I_T nexus and by another's
/// reset, and the resets the owner runs.
extension ISCSIConnection {
  /// Task Management Function Request (RFC 7143 §11.5): ABORT TASK / ABORT TASK SET /
  /// CLEAR TASK SET drop what is waiting for data and suppress the results of what is
  /// running — the task sets on every connection of the session, and the commands numbered
  /// below the function's CmdSN not delivered yet (waiting for their turn, or still to come,
  /// §11.5.1); the response waits for the running tasks it aborted. LOGICAL UNIT RESET and
  /// TARGET WARM / COLD RESET go to the owner (the miniport's reset path, per LU); CLEAR ACA
  /// and TASK REASSIGN are not supported.
  mutating func taskManagement(_ pdu: ISCSIPDU) -> [Event] {
    guard accept(pdu) else { return [] }
    let function = pdu.flags & 0x7F
    let itt = pdu.initiatorTaskTag
    let lun = Self.lunNumber(pdu.lun)
    func respond(_ code: UInt8) -> [Event] {
      var r = ISCSIPDU(.taskManagementResponse)
      r.initiatorTaskTag = itt
      r.header[2] = code
      return [encode(stamped(r, advance: true))]
    }
    // Held answers are bounded like commands; resets go one at a time. Beyond: FUNCTION
    // REJECTED, and the initiator may retry.
    if session.heldCount >= Self.maximumOutstanding && [1, 2, 4].contains(function) {
      return respond(255)
    }
    if resetInFlight && [5, 6, 7].contains(function) { return respond(255) }
    switch function {
    case 1:  // ABORT TASK
      let referenced = pdu.be32(20)
      if dropPendingWrite(referenced) { return respond(0) }
      if let i = waitingForBytes.firstIndex(where: { $0.pdu.initiatorTaskTag == referenced }) {
        waitingForBytes.remove(at: i)
        return respond(0)
      }
      if running[referenced] != nil {
        running[referenced]!.aborted = .thisNexus
        session.hold(cid: cid, initiatorTaskTag: itt, awaiting: [ISCSISession.key(memberSerial, referenced)])
        return []  // answered when the task ends
      }
      if session.abortWaiting(tag: referenced, cid: cid) { return respond(0) }
      // Not received, but numbered inside the window and below this function: it is considered
      // received — its CmdSN taken, the command dropped should it come (RFC 7143 §11.5.1 b).
      let refCmdSN = pdu.be32(32)
      let below = pdu.be32(24) &- refCmdSN
      if refCmdSN &- expCmdSN <= maxCmdSN &- expCmdSN && below != 0 && below < 1 << 31 {
        guard session.abort(from: refCmdSN, to: refCmdSN &+ 1, lun: nil) else { return respond(255) }
        session.consumeAbsent(refCmdSN)
        return respond(0)
      }
      return respond(1)  // task does not exist
    case 2, 4:  // ABORT TASK SET, CLEAR TASK SET
      guard let lun, target.luns.contains(lun) else { return respond(2) }
      let awaiting = abortSession(lun, field: pdu.lun, below: pdu.be32(24))
      if awaiting.isEmpty { return respond(0) }
      session.hold(cid: cid, initiatorTaskTag: itt, awaiting: awaiting)
      return []
    case 5:  // LOGICAL UNIT RESET
      guard let lun, target.luns.contains(lun) else { return respond(2) }
      abortSession(lun, field: pdu.lun, below: pdu.be32(24))
      resetInFlight = true
      return [.resetLogicalUnit(lun: lun, initiatorTaskTag: itt)]
    case 6, 7:  // TARGET WARM RESET, TARGET COLD RESET: every LU, through the owner
      abortSession(nil, field: nil, below: pdu.be32(24))
      resetInFlight = true
      return [.resetTarget(cold: function == 7, initiatorTaskTag: itt)]
    case 3:  // CLEAR ACA (no ACA here: NACA is refused)
      return respond(5)
    case 8:  // TASK REASSIGN (ErrorRecoveryLevel 2)
      return respond(4)
    case 9...14:  // QUERY TASK, QUERY TASK SET, I_T NEXUS RESET, QUERY ASYNCHRONOUS EVENT…
      return respond(5)
    default:
      return respond(255)
    }
  }

  /// Aborts this connection's tasks of `lun` (nil: every LU) for `who`: writes waiting for
  /// data and commands waiting for bytes are dropped — never executed — and running tasks
  /// marked, their results not sent. For this nexus nothing is answered (the task management
  /// response is); for another nexus's reset every one ends with TASK ABORTED — the dropped
  /// at once (the events returned), the running when they leave the adapter. This nexus's
  /// abort of a running task wins over another's. Returns those events and the running tasks
  /// marked.
  @discardableResult
  mutating func abort(_ lun: UInt16?, by who: Abort) -> (events: [Event], running: Set<UInt32>) {
    func affected(_ unit: UInt16?) -> Bool { lun == nil || unit == lun }
    var dropped: [UInt32] = []
    for (tag, w) in pendingWrites where affected(w.task.lun) {
      dropPendingWrite(tag)
      dropped.append(tag)
    }
    for w in waitingForBytes where affected(Self.lunNumber(w.pdu.lun)) {
      dropped.append(w.pdu.initiatorTaskTag)
    }
    if !waitingForBytes.isEmpty { waitingForBytes.removeAll { affected(Self.lunNumber($0.pdu.lun)) } }
    var marked = Set<UInt32>()
    for (tag, entry) in running where affected(entry.lun) {
      if who == .thisNexus || entry.aborted == nil { running[tag]!.aborted = who }
      marked.insert(tag)
    }
    guard who == .anotherNexus, phase == .fullFeature else { return ([], marked) }
    return (dropped.map { .send(response($0, .taskAborted, expected: 0, isRead: false)) }, marked)
  }

  /// Drops the write `tag` waiting for data (a task management function aborted it): its
  /// bytes and slot are free at once, and the Data-Out of the burst its R2T asked for — on the
  /// wire already, or sent because RFC 7143's task management actions on task sets (RFC 3720
  /// §10.6.2) have an initiator answer every R2T of an aborted task set — is discarded as it
  /// comes, without a Reject. Nothing waits for that data (those actions would have the
  /// target wait): Linux's initiator stops sending it (fast abort), and a target that waited
  /// would never answer. Returns whether there was such a write.
  @discardableResult
  mutating func dropPendingWrite(_ tag: UInt32) -> Bool {
    guard let w = pendingWrites.removeValue(forKey: tag) else { return false }
    outstandingBytes -= w.task.expectedLength
    if discardedTransfers.count >= Self.discardedTransferLimit { discardedTransfers.removeFirst() }
    discardedTransfers.append((tag, w.targetTransferTag))
    return true
  }

  /// A task set's abort across the session: this connection's tasks of `lun` (nil: all), its
  /// siblings' (through their owners), and the commands numbered from ExpCmdSN to `below` not
  /// delivered yet (LUN field `field`; nil: any). Returns the running tasks awaited, as
  /// session keys.
  /// `below` is clamped to the window (MaxCmdSN + 1): a function numbered beyond it cannot
  /// abort commands the target would never accept.
  @discardableResult
  mutating func abortSession(_ lun: UInt16?, field: UInt64?, below: UInt32) -> Set<UInt64> {
    var awaiting = Set(abort(lun, by: .thisNexus).running.map { ISCSISession.key(memberSerial, $0) })
    for (sibling, hooks) in session.hooks where sibling != cid {
      guard let serial = session.members[sibling] else { continue }
      awaiting.formUnion(hooks.abort(lun).map { ISCSISession.key(serial, $0) })
    }
    // Commands numbered below the function not delivered yet: only an immediate function can
    // have any (a non-immediate one came in order, ExpCmdSN is past it).
    let ahead = below &- expCmdSN
    if ahead != 0 && ahead < 1 << 31 {
      let end = maxCmdSN &+ 1
      // (With too many ranges kept, those of this range still to come are not dropped.)
      session.abort(from: expCmdSN, to: ahead <= end &- expCmdSN ? below : end, lun: field)
    }
    return awaiting
  }

  /// The owner finished a LOGICAL UNIT RESET or a target reset.
  public mutating func completeReset(initiatorTaskTag: UInt32, succeeded: Bool) -> [Event] {
    resetInFlight = false
    guard phase == .fullFeature else { return [] }
    var r = ISCSIPDU(.taskManagementResponse)
    r.initiatorTaskTag = initiatorTaskTag
    r.header[2] = succeeded ? 0 : 255
    return [encode(stamped(r, advance: true))]
  }
}
