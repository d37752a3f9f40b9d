import NIOCore

extension ISCSIConnection {
  /// The LUN number of an 8-byte SAM LUN field (peripheral or flat addressing of a single
  /// level); nil for any other form.
  static func lunNumber(_ field: UInt64) -> UInt16? {
    guard field & 0x0000_FFFF_FFFF_FFFF == 0 else { return nil }
    let first = UInt16(field >> 48)
    switch first >> 14 {
    case 0: return first & 0xFF == first ? first : nil  // peripheral: bus 0, LUN in byte 1
    case 1: return first & 0x3FFF  // flat space
    default: return nil
    }
  }

  /// SCSI Command (RFC 7143 §11.3): bounded, numbered, its immediate data taken; a write
  /// whose data is not all here gets an R2T; a complete command goes to the owner. One whose
  /// data would take the session past ``maximumOutstandingBytes`` — or that comes while others
  /// wait so — waits (``waitingForBytes``).
  mutating func scsiCommand(_ pdu: ISCSIPDU) -> [Event] {
    // An immediate command skips the window; it still needs a free slot.
    if pdu.isImmediate && outstanding >= Self.maximumOutstanding {
      return reject(pdu.header, .immediateCommandReject)
    }
    guard accept(pdu) else { return [] }
    let itt = pdu.initiatorTaskTag
    let isRead = pdu.flags & 0x40 != 0
    let isWrite = pdu.flags & 0x20 != 0
    let expected = Int(pdu.be32(20))
    if running[itt] != nil || pendingWrites[itt] != nil
      || waitingForBytes.contains(where: { $0.pdu.initiatorTaskTag == itt })
    {
      return reject(pdu.header, .taskInProgress)
    }
    guard pdu.additionalHeader.isEmpty else {
      // Extended CDBs (over 16 bytes) and bidirectional transfers are not supported.
      return checkCondition(itt, sense: TargetSense.bytes(0x05, 0x24, 0x00))
    }
    guard pdu.isFinal, !(isRead && isWrite) else { return reject(pdu.header, .protocolError) }
    guard expected <= Self.maximumTransferBytes else {
      return checkCondition(itt, sense: TargetSense.bytes(0x05, 0x24, 0x00))
    }
    let p = negotiator.parameters
    if !pdu.data.isEmpty {
      guard isWrite, p.immediateData, pdu.data.count <= min(p.firstBurstLength, expected) else {
        return reject(pdu.header, .protocolError)
      }
    }
    guard Self.lunNumber(pdu.lun) != nil else {
      return checkCondition(itt, sense: TargetSense.bytes(0x05, 0x25, 0x00))
    }
    let bytes = Self.chargedBytes(pdu)
    if session.waitingForBytes > 0 || session.outstandingBytes + bytes > Self.maximumOutstandingBytes {
      let ticket = session.takeTicket(cid: cid, bytes: bytes)
      waitingForBytes.append(WaitingCommand(ticket: ticket, pdu: pdu))
      return []
    }
    return start(pdu)
  }

  /// The bytes of data a command (checked by ``scsiCommand(_:)``) may move: its Expected Data
  /// Transfer Length if it reads or writes, else none.
  static func chargedBytes(_ pdu: ISCSIPDU) -> Int {
    pdu.flags & 0x60 != 0 ? Int(pdu.be32(20)) : 0
  }

  /// Starts this connection's commands waiting for bytes, oldest first, while the next is first
  /// in the session's order and its data fits in ``maximumOutstandingBytes``; stops at the first
  /// that is not (order is kept — a sibling's turn is its owner's to take,
  /// ``ISCSISession/nextToStart(limit:)``). Nothing starts outside the full feature phase.
  mutating func startWaiting() -> [Event] {
    var events: [Event] = []
    while phase == .fullFeature, let next = waitingForBytes.first,
      session.nextToStart(limit: Self.maximumOutstandingBytes) == cid
    {
      // The session's first is this connection's, so it is this connection's oldest.
      assert(session.waitingOrder.first?.ticket == next.ticket, "bug in swift-storport: waiting order")
      waitingForBytes.removeFirst()
      events += start(next.pdu)
    }
    return events
  }

  /// A checked SCSI command whose bytes are counted from now: a write whose data is not all
  /// here gets an R2T; a complete command goes to the owner.
  private mutating func start(_ pdu: ISCSIPDU) -> [Event] {
    let itt = pdu.initiatorTaskTag
    let isRead = pdu.flags & 0x40 != 0
    let isWrite = pdu.flags & 0x20 != 0
    let expected = Int(pdu.be32(20))
    guard let lun = Self.lunNumber(pdu.lun) else {
      preconditionFailure("bug in swift-storport: a SCSI command started with an unchecked LUN field")
    }
    let cdb = Array(pdu.header[32..<48])
    var task = ISCSITask(
      initiatorTaskTag: itt, lun: lun, cdb: cdb, isRead: isRead, isWrite: isWrite,
      expectedLength: isRead || isWrite ? expected : 0, dataOut: [])
    assert(
      task.expectedLength == Self.chargedBytes(pdu), "bug in swift-storport: two byte counts of one command")
    outstandingBytes += task.expectedLength
    if isWrite {
      task.dataOut += pdu.data
      if task.dataOut.count < expected {
        var pending = PendingWrite(task: task, targetTransferTag: newTransferTag())
        let r2t = readyToTransfer(&pending, lun: pdu.lun)
        pendingWrites[itt] = pending
        return [r2t]
      }
    }
    running[itt] = RunningTask(lun: lun, bytes: task.expectedLength)
    return [.execute(task)]
  }

  /// A Target Transfer Tag for a new R2T: never 0xFFFFFFFF (reserved), never one whose
  /// aborted write's burst is still being discarded (``discardedTransfers``).
  mutating func newTransferTag() -> UInt32 {
    func advance() { nextTransferTag = nextTransferTag == 0xFFFF_FFFE ? 1 : nextTransferTag + 1 }
    while discardedTransfers.contains(where: { $0.ttt == nextTransferTag }) { advance() }
    defer { advance() }
    return nextTransferTag
  }

  /// The next R2T of a write: the rest of the data, up to MaxBurstLength.
  mutating func readyToTransfer(_ w: inout PendingWrite, lun: UInt64) -> Event {
    w.burstOffset = w.task.dataOut.count
    w.burstLength = min(negotiator.parameters.maxBurstLength, w.task.expectedLength - w.burstOffset)
    w.nextDataSN = 0
    var r2t = ISCSIPDU(.readyToTransfer)
    r2t.lun = lun
    r2t.initiatorTaskTag = w.task.initiatorTaskTag
    r2t.setBE32(20, w.targetTransferTag)
    r2t.setBE32(36, w.r2tSN)
    r2t.setBE32(40, UInt32(w.burstOffset))
    r2t.setBE32(44, UInt32(w.burstLength))
    w.r2tSN &+= 1
    return encode(stamped(r2t, advance: false))
  }

  /// SCSI Data-Out (RFC 7143 §11.7): in order, inside the burst asked for, numbered from 0 in
  /// each burst. Anything else ends the command with CHECK CONDITION (ABORTED COMMAND).
  mutating func dataOut(_ pdu: ISCSIPDU) -> [Event] {
    let itt = pdu.initiatorTaskTag
    let ttt = pdu.be32(20)
    // (Only while some aborted write's burst is being discarded: the common Data-Out pays one
    // emptiness check here, not a second table lookup.)
    if !discardedTransfers.isEmpty, pendingWrites[itt]?.targetTransferTag != ttt,
      let i = discardedTransfers.firstIndex(where: { $0.itt == itt && $0.ttt == ttt })
    {
      // The burst of a write aborted while its R2T was out (its task tag may name a new write
      // by now): discarded, no Reject; its final PDU ends it.
      if pdu.isFinal { discardedTransfers.remove(at: i) }
      return []
    }
    // Taken out while its data grows: the dictionary would share the data, and each append
    // copy all of it (quadratic in a write's PDUs).
    guard var w = pendingWrites.removeValue(forKey: itt) else {
      // Unsolicited data (InitialR2T is always Yes here) or data for no write.
      return reject(pdu.header, .protocolError)
    }
    let dataSN = pdu.be32(36)
    let offset = Int(pdu.be32(40))
    let burstEnd = w.burstOffset + w.burstLength
    if let fault = Self.dataOutFault(
      ttt: ttt, dataSN: dataSN, offset: offset, length: pdu.data.count, of: w, burstEnd: burstEnd)
    {
      outstandingBytes -= w.task.expectedLength
      return checkCondition(itt, sense: TargetSense.bytes(0x0B, fault.asc, fault.ascq))
    }
    w.nextDataSN &+= 1
    w.task.dataOut += pdu.data
    guard pdu.isFinal else {
      pendingWrites[itt] = w
      return []
    }
    if w.task.dataOut.count < burstEnd {
      outstandingBytes -= w.task.expectedLength
      return checkCondition(itt, sense: TargetSense.bytes(0x0B, 0x4B, 0x00))
    }
    if w.task.dataOut.count < w.task.expectedLength {
      pendingWrites[itt] = w  // back before the R2T is stamped: MaxCmdSN counts its slot
      let r2t = readyToTransfer(&w, lun: pdu.lun)
      pendingWrites[itt] = w
      return [r2t]
    }
    running[itt] = RunningTask(lun: w.task.lun, bytes: w.task.expectedLength)
    return [.execute(w.task)]
  }

  /// What is wrong with a Data-Out for write `w` (nil: nothing), as the additional sense of the
  /// CHECK CONDITION (ABORTED COMMAND) that ends the write — SPC-4's and RFC 7143 §11.4.7.2's
  /// codes, most specific first:
  /// * the reserved tag 0xFFFFFFFF (unsolicited data; InitialR2T is Yes): 0Ch/0Ch UNEXPECTED
  ///   UNSOLICITED DATA;
  /// * any other tag but the R2T's: 4Bh/01h INVALID TARGET PORT TRANSFER TAG RECEIVED;
  /// * a DataSN out of order: 4Bh/00h DATA PHASE ERROR;
  /// * an offset other than the next byte: 4Bh/05h DATA OFFSET ERROR;
  /// * data past the burst the R2T asked for: 4Bh/02h TOO MUCH WRITE DATA.
  static func dataOutFault(
    ttt: UInt32, dataSN: UInt32, offset: Int, length: Int, of w: PendingWrite, burstEnd: Int
  ) -> (asc: UInt8, ascq: UInt8)? {
    if ttt == 0xFFFF_FFFF { return (0x0C, 0x0C) }
    if ttt != w.targetTransferTag { return (0x4B, 0x01) }
    if dataSN != w.nextDataSN { return (0x4B, 0x00) }
    if offset != w.task.dataOut.count { return (0x4B, 0x05) }
    if offset + length > burstEnd { return (0x4B, 0x02) }
    return nil
  }

  mutating func checkCondition(_ itt: UInt32, sense: [UInt8]) -> [Event] {
    [.send(response(itt, ISCSITaskResult(status: 0x02, sense: sense), expected: 0, isRead: false))]
  }

  /// The owner finished a task: its Data-In PDUs and status, or nothing if a task management
  /// function aborted it (or the connection ended).
  public mutating func complete(_ task: ISCSITask, _ result: ISCSITaskResult) -> [Event] {
    complete(task.header, result)
  }

  /// ``complete(_:_:)`` by the task's header.
  public mutating func complete(_ task: ISCSITaskHeader, _ result: ISCSITaskResult) -> [Event] {
    complete(CollectionOfOne((task, result)))
  }

  /// ``complete(_:_:)`` for tasks that finished together, in order: their responses share wire
  /// buffers (``WireBuffers``) — one allocation and one iovec for a burst of small reads. A
  /// task management response released by an aborted task goes in its place in the order.
  public mutating func complete(_ done: some Collection<(ISCSITaskHeader, ISCSITaskResult)>) -> [Event] {
    var events: [Event] = []
    var wire = WireBuffers(estimatedBytes: done.reduce(0) { $0 + responseBytes($1.1) })
    for (task, result) in done {
      guard let entry = running.removeValue(forKey: task.initiatorTaskTag) else { continue }
      outstandingBytes -= entry.bytes
      // Its result; TASK ABORTED when another nexus's reset aborted it; nothing when this
      // nexus did, or its connection ended.
      if phase == .fullFeature && entry.aborted != .thisNexus {
        let another = entry.aborted == .anotherNexus
        let answer = another ? ISCSITaskResult.taskAborted : result
        let (expected, isRead) = another ? (0, false) : (task.expectedLength, task.isRead)
        wire.append(estimate: responseBytes(answer)) {
          response(task.initiatorTaskTag, answer, expected: expected, isRead: isRead, into: &$0)
        }
      }
      // Responses held for aborted tasks may go (after what is in the wire buffers).
      if entry.aborted != nil || phase != .fullFeature {
        let released = releaseTaskManagement(afterEnding: [task.initiatorTaskTag])
        if !released.isEmpty { events += wire.take().map { .send($0) } + released }
      }
    }
    events += wire.take().map { .send($0) }
    // The bytes these tasks held may let commands waiting for them start.
    if session.waitingForBytes > 0 { events += startWaiting() }
    return events
  }

  /// At least the wire bytes of `result`'s response: its data, a header and two digests per
  /// PDU — one per segment the initiator takes, one more per sequence end (MaxBurstLength), one
  /// for the status — its sense, padding.
  func responseBytes(_ result: ISCSITaskResult) -> Int {
    let p = negotiator.parameters
    let segment = max(1, p.initiatorMaxRecvDataSegmentLength)
    let pdus = result.dataIn.count / segment + result.dataIn.count / max(1, p.maxBurstLength) + 2
    return result.dataIn.count + pdus * (ISCSIPDU.headerBytes + 12) + result.sense.count + 5
  }

  /// This connection's tasks `tags` have ended: the held task management responses that were
  /// waiting only for them — this connection's are returned to send, a sibling's go to it
  /// (``ISCSISession/Hooks/answer``).
  mutating func releaseTaskManagement(afterEnding tags: some Sequence<UInt32>) -> [Event] {
    var out: [Event] = []
    for due in session.ended(tags.map { ISCSISession.key(memberSerial, $0) }) {
      if due.cid == cid {
        if phase == .fullFeature { out.append(answer(due)) }
      } else {
        session.hooks[due.cid]?.answer(due)
      }
    }
    return out
  }

  /// The response held until the tasks it awaited ended: FUNCTION COMPLETE for this
  /// connection's task management function, or success for its logout of a sibling.
  mutating func answer(_ held: ISCSISession.HeldResponse) -> Event {
    var r = ISCSIPDU(held.kind == .logout ? .logoutResponse : .taskManagementResponse)
    r.initiatorTaskTag = held.initiatorTaskTag
    r.header[2] = 0  // function complete / connection closed successfully
    return encode(stamped(r, advance: true))
  }

  /// Data-In PDUs (each within the initiator's MaxRecvDataSegmentLength, a sequence per
  /// MaxBurstLength) and the status: in the last Data-In when it is GOOD without sense
  /// (phase collapse), else in a SCSI Response carrying the sense data. Residuals against
  /// the Expected Data Transfer Length.
  mutating func response(_ itt: UInt32, _ result: ISCSITaskResult, expected: Int, isRead: Bool) -> ByteBuffer
  {
    var out = ByteBuffer()
    response(itt, result, expected: expected, isRead: isRead, into: &out)
    return out
  }

  /// ``response(_:_:expected:isRead:)``, appended to `out`.
  mutating func response(
    _ itt: UInt32, _ result: ISCSITaskResult, expected: Int, isRead: Bool, into out: inout ByteBuffer
  ) {
    let p = negotiator.parameters
    let data = isRead ? result.dataIn.leading(expected) : DataIn()
    let underflow = max(result.underflow, isRead ? expected - data.count : 0)
    // Residual flags and count (RFC 7143 §11.4.5): overflow wins over underflow.
    let residualFlags: UInt8 = result.overflow > 0 ? 0x04 : underflow > 0 ? 0x02 : 0
    let residual = UInt32(clamping: result.overflow > 0 ? result.overflow : underflow)
    let collapse = result.status == 0 && result.sense.isEmpty && data.count > 0
    // Every PDU of the response goes in `out` (headers, data written from the read's buffer,
    // padding, digests): room made once.
    out.reserveCapacity(minimumWritableBytes: responseBytes(result))
    var offset = 0
    var dataSN: UInt32 = 0
    while offset < data.count {
      // A PDU never crosses the end of a sequence: MaxBurstLength bounds each (RFC 7143
      // §13.13), whether or not it is a multiple of the initiator's segment length.
      let burstEnd = (offset / p.maxBurstLength + 1) * p.maxBurstLength
      let n = min(p.initiatorMaxRecvDataSegmentLength, data.count - offset, burstEnd - offset)
      let last = offset + n == data.count
      let endsBurst = last || offset + n == burstEnd
      var d = ISCSIPDU(.scsiDataIn, final: endsBurst)
      d.initiatorTaskTag = itt
      d.setBE32(20, 0xFFFF_FFFF)
      d.setBE32(36, dataSN)
      d.setBE32(40, UInt32(offset))
      let payload = data.slice(offset, n)
      if last && collapse {
        d.flags |= 0x01 | residualFlags
        d.header[3] = result.status
        d.setBE32(44, residual)
        framing.write(stamped(d, advance: true), payload: payload, into: &out)
      } else {
        framing.write(stamped(d, advance: false), payload: payload, into: &out)
      }
      dataSN &+= 1
      offset += n
    }
    if collapse { return }
    var r = ISCSIPDU(.scsiResponse)
    r.initiatorTaskTag = itt
    r.header[2] = 0  // command completed at target
    r.header[3] = result.status
    r.flags |= residualFlags
    r.setBE32(44, residual)
    r.setBE32(36, dataSN)  // ExpDataSN: the Data-In PDUs sent
    if !result.sense.isEmpty {
      r.data = [UInt8(result.sense.count >> 8), UInt8(result.sense.count & 0xFF)] + result.sense
    }
    framing.write(stamped(r, advance: true), into: &out)
  }
}
