import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Storport

extension ISCSIServer {

  /// Runs `task` on its LUN's adapter (or answers it here: REPORT LUNS, a LUN not served),
  /// counting it in ``metrics``.
  /// `nexus`: the I_T nexus the task came through (initiator name and ISID), for reservations.
  func run(_ task: ISCSITask, nexus: String, completion: @escaping @Sendable (ISCSITaskResult) -> Void) {
    execute(task, nexus: nexus, finish: TaskFinish(task, metrics: metrics, completion: completion))
  }

  /// What a finished task does: it is counted in the metrics (when kept), then its result goes
  /// on. A value, so the closure that finishes a command carries it in its own context instead
  /// of calling a closure of its own.
  struct TaskFinish: Sendable {
    let completion: @Sendable (ISCSITaskResult) -> Void
    let metrics: ServeMetrics?
    let op: ServeMetrics.Operation
    let since: UInt64
    let expected: Int
    let written: Int

    init(_ task: ISCSITask, metrics: ServeMetrics?, completion: @escaping @Sendable (ISCSITaskResult) -> Void)
    {
      self.completion = completion
      self.metrics = metrics
      since = metrics == nil ? 0 : ServeMetrics.now()
      op = metrics == nil ? .other : Self.operation(task.cdb)  // not worked out when not counted
      (expected, written) = (task.expectedLength, task.dataOut.count)
    }

    /// READ, WRITE and WRITE AND VERIFY are reads and writes; SYNCHRONIZE CACHE a flush; the
    /// rest (INQUIRY, VERIFY, WRITE SAME, MODE SENSE…) other, their bytes not counted.
    static func operation(_ cdb: [UInt8]) -> ServeMetrics.Operation {
      switch BlockCdb(cdb)?.kind {
      case .read: .read
      case .write, .writeAndVerify: .write
      default: cdb[0] == 0x35 || cdb[0] == 0x91 ? .flush : .other
      }
    }

    func callAsFunction(_ result: ISCSITaskResult) {
      if let metrics {
        let failed = result.status != 0
        let bytes = failed ? 0 : op == .read ? min(result.dataIn.count, expected) : written
        metrics.completed(
          .iscsi, op, bytes: op == .read || op == .write ? bytes : 0, failed: failed, since: since)
      }
      completion(result)
    }
  }

  private func execute(_ task: ISCSITask, nexus: String, finish completion: TaskFinish) {
    let opcode = task.cdb[0]
    if opcode == 0xA0 {  // REPORT LUNS: the target's LUNs, not one adapter's
      completion(ISCSITaskResult(status: 0, dataIn: reportLuns(task)))
      return
    }
    guard let disk = disks[task.lun] else {
      if opcode == 0x12 {  // INQUIRY of a LUN not served: peripheral qualifier 3, no device
        var data = [UInt8](repeating: 0, count: 36)
        data[0] = 0x7F
        data[2] = 0x06
        data[3] = 0x02
        data[4] = 31
        completion(ISCSITaskResult(status: 0, dataIn: data.leading(task.expectedLength)))
      } else if opcode == 0x03 {
        // REQUEST SENSE of a LUN not served: LOGICAL UNIT NOT SUPPORTED as its parameter data,
        // GOOD (SPC-4 REQUEST SENSE).
        completion(.requestSense(0x05, 0x25, 0x00, answering: task))
      } else {
        completion(ISCSITaskResult(status: 0x02, sense: TargetSense.bytes(0x05, 0x25, 0x00)))
      }
      return
    }
    // A command that takes Data-Out, sent without the W bit but expecting data (the R bit): no
    // data will come, so it is refused before anything moves — never run on a buffer the
    // initiator did not fill. (A READ sent with the W bit runs: libiscsi's Read10.Invalid
    // expects GOOD; its Data-Out is unused, all of EDTL the residual, below.)
    let parsed = BlockCdb(task.cdb)  // once per command
    if task.expectedLength > 0, !task.isWrite, AdapterDisk.takesDataOut(task.cdb, block: parsed) {
      completion(ISCSITaskResult(status: 0x02, sense: TargetSense.bytes(0x05, 0x24, 0x00)))
      return
    }
    // Reservation commands are the target's; a command a reservation forbids this nexus ends
    // in RESERVATION CONFLICT before the adapter sees it.
    if let answer = disk.reservations.decide(cdb: task.cdb, parameters: task.dataOut, nexus: nexus) {
      let data = answer.data.leading(task.expectedLength)
      completion(
        ISCSITaskResult(
          status: answer.status, sense: answer.sense, dataIn: data,
          overflow: answer.data.count - data.count,
          underflow: task.isRead ? task.expectedLength - data.count : 0))
      return
    }
    if disk.readOnly && AdapterDisk.changesMedium(task.cdb) {
      completion(ISCSITaskResult(status: 0x02, sense: TargetSense.bytes(0x07, 0x27, 0x00)))
      return
    }
    // MAXIMUM TRANSFER LENGTH (the Block Limits page's: AdapterDisk.largestCommandBytes): a
    // block command naming more is refused whatever EDTL says, before anything moves (SBC-4
    // §6.6.4); WRITE SAME's bound is the LU's MAXIMUM WRITE SAME LENGTH instead.
    if let block = parsed, block.kind != .writeSame,
      UInt64(block.blocks) * UInt64(disk.blockSize) > UInt64(AdapterDisk.largestCommandBytes)
    {
      completion(ISCSITaskResult(status: 0x02, sense: TargetSense.bytes(0x05, 0x24, 0x00)))
      return
    }
    guard let block = parsed, block.movesData else {
      // A block command that moves no data (WRITE SAME(16) with NDOB, VERIFY without BYTCHK)
      // uses none of what the initiator expected to move, either way: all of EDTL is the
      // residual (underflow, RFC 7143 §11.4.5.1).
      let isBlock = parsed != nil
      let unused = isBlock ? task.expectedLength : 0
      disk.execute(
        cdb: task.cdb, dataOut: isBlock ? [] : task.dataOut,
        dataInLength: task.isRead && !isBlock ? task.expectedLength : 0
      ) {
        completion(
          ISCSITaskResult(
            status: $0.status, sense: $0.sense, dataIn: $0.data, overflow: $0.overflow, underflow: unused))
      }
      return
    }
    // A block command moves what its CDB says (SPDTL); the initiator expects EDTL (RFC 7143
    // §11.4.5.1, processed as FCP-4 says): the command runs, no data moves beyond the shorter
    // of the two, and the difference is the residual (overflow when the CDB asked for more).
    let spdtl = block.dataBytes(blockSize: disk.blockSize)
    let edtl = task.expectedLength
    let overflow = max(0, spdtl - edtl)
    let underflow = max(0, edtl - spdtl)
    if block.hasDataOut {
      let data = task.dataOut.leading(min(spdtl, edtl))
      // A write's residual stands whatever its status: it describes the command as sent
      // (RFC 7143 §11.4.5.1), so a refused partial block still reports its overflow.
      let finish: @Sendable (AdapterDisk.ScsiOutcome) -> Void = {
        completion(
          ISCSITaskResult(
            status: $0.status, sense: $0.sense, overflow: overflow, underflow: underflow))
      }
      if (block.kind == .writeSame && spdtl != edtl) || (block.isAtomic && spdtl > edtl) {
        // The one block WRITE SAME repeats must be whole, and an ORWRITE or WRITE ATOMIC cannot
        // be done in part: INVALID FIELD IN INFORMATION UNIT.
        completion(
          ISCSITaskResult(
            status: 0x02, sense: TargetSense.bytes(0x05, 0x0E, 0x03), overflow: overflow,
            underflow: underflow))
      } else if spdtl <= edtl {
        disk.execute(cdb: task.cdb, dataOut: data, dataInLength: 0, completion: finish)
      } else {
        disk.truncatedWrite(block, data: data, completion: finish)
      }
      return
    }
    // A READ sent with the W bit moves none of the data the initiator sent: all of EDTL is the
    // residual (underflow), as for WRITE SAME with NDOB; no Data-In goes back.
    let (over, under) = task.isWrite ? (0, edtl) : (overflow, underflow)
    let sendsData = !task.isWrite
    let finish: @Sendable (AdapterDisk.ScsiOutcome) -> Void = {
      completion(
        ISCSITaskResult(
          status: $0.status, sense: $0.sense, dataIn: sendsData ? $0.data.leading(edtl) : DataIn(),
          overflow: $0.status == 0 ? over : 0, underflow: $0.status == 0 ? under : 0))
    }
    // Memory follows what the initiator expects, never only the CDB: a READ naming more than
    // EDTL reads the blocks EDTL covers (64 such reads of 16 MiB with an EDTL of 4 KiB took a
    // gigabyte; the session's byte budget counts EDTL).
    if spdtl > edtl {
      disk.truncatedRead(block, bytes: task.isWrite ? 0 : edtl, completion: finish)
      return
    }
    disk.execute(cdb: task.cdb, dataOut: [], dataInLength: spdtl, completion: finish)
  }

  private func reportLuns(_ task: ISCSITask) -> [UInt8] {
    let luns = configuration.luns
    var data = [UInt8](repeating: 0, count: 8)
    let listBytes = UInt32(luns.count * 8)
    for i in 0..<4 { data[i] = UInt8(truncatingIfNeeded: listBytes >> (24 - 8 * UInt32(i))) }
    for lun in luns {
      var entry = [UInt8](repeating: 0, count: 8)
      if lun < 256 {
        entry[1] = UInt8(lun)
      } else {
        entry[0] = 0x40 | UInt8(lun >> 8)
        entry[1] = UInt8(lun & 0xFF)
      }
      data += entry
    }
    return data.leading(task.expectedLength)
  }
}

extension ISCSITaskResult {
  /// REQUEST SENSE (`task`) answered by the target itself: GOOD, the sense `key`/`asc`/`ascq`
  /// as parameter data — descriptor format when the CDB's DESC bit asks, fixed otherwise (SPC-4)
  /// — cut to the allocation length and to EDTL, what EDTL cuts reported as overflow.
  static func requestSense(_ key: UInt8, _ asc: UInt8, _ ascq: UInt8, answering task: ISCSITask) -> Self {
    let sense = TargetSense.bytes(key, asc, ascq, descriptor: task.cdb[1] & 0x01 != 0)
    let n = min(sense.count, Int(task.cdb[4]))
    return ISCSITaskResult(
      status: 0, dataIn: Array(sense.prefix(n)).leading(task.expectedLength),
      overflow: max(0, n - task.expectedLength))
  }
}
