import Storport
import StorportDevices
import StorportSCSI

extension NvmeMiniport {
  /// HwStorStartIo on a concurrent channel (no StartIo lock). The reset gate is interlocked
  /// only: count ourselves in, then read `resetState` with a compare-exchange; the watchdog
  /// waits for `startIoActive` to reach 0 before it touches the queues.
  public func startIo(_ ext: NvmeExtension, _ r: StorRequest) -> Bool {
    ext.startIoActive.increment()
    defer { ext.startIoActive.decrement() }
    guard ext.resetState.compareExchange(exchange: 0, comparand: 0) == 0, let unit = ext.unit else {
      r.srbStatus = .busy  // retried by the port once the controller is back (R-S11)
      ext.port.requestComplete(r)
      return true
    }
    // The request's per-command state (miniportContext) starts afresh with every StartIo: a
    // request the port completed itself, or re-issues, carries nothing over — except the
    // progress of a WRITE SAME a controller reset sent back (``writeSameResume``).
    if Self.resumedWriteSameBlocks(r.miniportContext, submissions: r.submissions) == 0 {
      r.miniportContext = 0
    }
    switch r.function {
    case .executeScsi:
      translate(ext, unit, r)
    case .flush, .shutdown:
      submit(ext, r) { c, _ in c.opcode = NvmeOpcode.flush }
    case .resetLogicalUnit, .resetDevice, .resetBus:
      // Outstanding commands come back BUSY through the reset and are retried.
      _ = ext.resetRequested.exchange(1)
      r.srbStatus = .success
      ext.port.requestComplete(r)
    default:
      r.srbStatus = .success
      ext.port.requestComplete(r)
    }
    return true
  }

  func reject(_ ext: NvmeExtension, _ r: StorRequest, _ result: ScsiResult) {
    r.apply(result, descriptorSense: ext.unit?.descriptorSense ?? false)
    ext.port.requestComplete(r)
  }

  /// SCSI → NVMe for the data commands; the logical unit answers the rest.
  private func translate(_ ext: NvmeExtension, _ unit: LogicalUnit, _ r: StorRequest) {
    let cdb = r.cdb
    if cdb.opcode == 0x42 {
      guard !unit.writeProtected else {
        reject(ext, r, .check(SenseData(.dataProtect, .writeProtected)))
        return
      }
      unmap(ext, r, cdb)
      return
    }
    // WRITE SAME of 0 blocks names the rest of the medium (WSNZ = 0).
    guard let b = BlockCommand.decode(cdb)?.resolvingWriteSameToEnd(blockCount: ext.blockCount) else {
      reject(ext, r, unit.execute(cdb, buffer: r.data))
      return
    }
    // The logical unit's own refusals first (NACA / LINK, a stopped unit), as its path does.
    if let refusal = unit.blockCommandRefusal(cdb) {
      reject(ext, r, refusal)
      return
    }
    if b.atomic && unit.configuration.maxAtomicTransferBlocks == 0 {
      reject(ext, r, .illegal(.invalidCommandOperationCode, .cdb(0)))
      return
    }
    if b.protect != 0 {
      reject(ext, r, .invalidField(cdbByte: 1, bit: 7))
      return
    }
    let end = b.lba.addingReportingOverflow(UInt64(b.blocks))
    if end.overflow || end.partialValue > ext.blockCount
      || (b.blocks == 0 && b.lba >= ext.blockCount && b.kind != .synchronizeCache)
    {
      reject(ext, r, .check(SenseData(.illegalRequest, .lbaOutOfRange, information: b.lba)))
      return
    }
    // WRITE ATOMIC(16) is a Write: the controller makes every command within NAWUN atomic.
    if b.atomic, let refusal = unit.atomicWriteRefusal(b) {
      reject(ext, r, refusal)
      return
    }
    let bytes = Int(b.blocks) * ext.blockSize
    let maxBlocks = UInt32(NvmeMiniport.maximumTransferBytes / ext.blockSize)
    switch b.kind {
    case .read, .write, .writeAndVerify:
      if b.blocks == 0 {
        reject(ext, r, .good())
        return
      }
      guard b.blocks <= maxBlocks else {
        reject(ext, r, .invalidField(cdbByte: b.lengthField))
        return
      }
      guard Int(r.dataTransferLength) >= bytes, let buffer = r.dataBuffer else {
        reject(ext, r, .invalidField(cdbByte: b.lengthField))
        return
      }
      if b.kind != .read && unit.writeProtected {
        reject(ext, r, .check(SenseData(.dataProtect, .writeProtected)))
        return
      }
      submit(ext, r) { c, list in
        c.opcode = b.kind == .read ? NvmeOpcode.read : NvmeOpcode.write
        NvmeMiniport.setPrps(&c, buffer: buffer, bytes: bytes, list: list)
        c.cdw10 = UInt32(truncatingIfNeeded: b.lba)
        c.cdw11 = UInt32(truncatingIfNeeded: b.lba >> 32)
        c.cdw12 = (b.blocks - 1) | (b.fua ? 1 << 30 : 0)
      }
    case .verify:
      switch b.byteCheck {
      case 0:
        reject(ext, r, .good())
      case 1 where b.blocks > 0 && b.blocks <= maxBlocks && Int(r.dataTransferLength) >= bytes:
        let buffer = r.dataBuffer!
        submit(ext, r) { c, list in
          c.opcode = NvmeOpcode.compare
          NvmeMiniport.setPrps(&c, buffer: buffer, bytes: bytes, list: list)
          c.cdw10 = UInt32(truncatingIfNeeded: b.lba)
          c.cdw11 = UInt32(truncatingIfNeeded: b.lba >> 32)
          c.cdw12 = b.blocks - 1
        }
      case 1 where b.blocks == 0:
        reject(ext, r, .good())
      default:
        reject(
          ext, r,
          .invalidField(cdbByte: b.byteCheck == 1 ? b.lengthField : 1, bit: b.byteCheck == 1 ? nil : 2))
      }
    case .synchronizeCache:
      submit(ext, r) { c, _ in c.opcode = NvmeOpcode.flush }
    case .prefetch:
      reject(ext, r, .good())
    case .writeSame:
      // ANCHOR is not supported (no ANC_SUP in the Logical Block Provisioning VPD page).
      if b.anchor {
        reject(ext, r, .invalidField(cdbByte: 1, bit: 4))
        return
      }
      if unit.writeProtected {
        reject(ext, r, .check(SenseData(.dataProtect, .writeProtected)))
        return
      }
      let zero =
        b.noDataOutBuffer
        || (r.dataBuffer != nil && r.dataTransferLength >= UInt32(ext.blockSize)
          && (0..<ext.blockSize).allSatisfy { r.dataBuffer!.load(fromByteOffset: $0, as: UInt8.self) == 0 })
      let limit = UInt32(NvmeMiniport.maximumWriteSameBlocks)
      guard b.blocks > 0, b.blocks <= limit else {
        reject(ext, r, .invalidField(cdbByte: b.lengthField))
        return
      }
      guard zero else {
        // With UNMAP, a block unmapped blocks would not read back as (LBPRZ: zeroes) is
        // written instead of unmapping (SBC-4 §5.49: UNMAP is a request, the data rules).
        writeSameOfData(ext, r, b)
        return
      }
      submit(ext, r) { c, _ in
        c.opcode = NvmeOpcode.writeZeroes
        c.cdw10 = UInt32(truncatingIfNeeded: b.lba)
        c.cdw11 = UInt32(truncatingIfNeeded: b.lba >> 32)
        c.cdw12 = (b.blocks - 1) | (b.unmap ? 1 << 25 : 0)
      }
    case .compareAndWrite:
      compareAndWrite(ext, unit, r, b)
    case .orWrite:
      orWrite(ext, unit, r, b)
    }
  }

  /// UNMAP → Dataset Management (deallocate), ranges in the slot's range list.
  private func unmap(_ ext: NvmeExtension, _ r: StorRequest, _ cdb: Cdb) {
    let length = Int(cdb.be16(7))
    if length == 0 {
      reject(ext, r, .good())
      return
    }
    guard length >= 8, Int(r.dataTransferLength) >= length, let p = r.dataBuffer else {
      reject(ext, r, .illegal(.parameterListLengthError))
      return
    }
    func be(_ at: Int, _ n: Int) -> UInt64 {
      (0..<n).reduce(UInt64(0)) { $0 << 8 | UInt64(p.load(fromByteOffset: at + $1, as: UInt8.self)) }
    }
    let count = Int(be(2, 2)) / 16
    guard count >= 1, count <= 256, 8 + count * 16 <= length else {
      reject(ext, r, count == 0 ? .good() : .illegal(.parameterListLengthError))
      return
    }
    var ranges: [(UInt64, UInt32)] = []
    for i in 0..<count {
      let lba = be(8 + i * 16, 8)
      let n = be(16 + i * 16, 4)
      let end = lba.addingReportingOverflow(n)
      if end.overflow || end.partialValue > ext.blockCount {
        reject(ext, r, .check(SenseData(.illegalRequest, .lbaOutOfRange, information: lba)))
        return
      }
      ranges.append((lba, UInt32(n)))
    }
    submit(ext, r) { c, list in
      for (i, (lba, n)) in ranges.enumerated() {
        list.storeBytes(of: UInt32(0), toByteOffset: i * 16, as: UInt32.self)
        list.storeBytes(of: n, toByteOffset: i * 16 + 4, as: UInt32.self)
        list.storeBytes(of: lba, toByteOffset: i * 16 + 8, as: UInt64.self)
      }
      c.opcode = NvmeOpcode.datasetManagement
      c.prp1 = UInt64(UInt(bitPattern: list))
      c.cdw10 = UInt32(ranges.count - 1)
      c.cdw11 = 0x4
    }
  }

  /// Puts a command on the channel's queue under its DpcLock and rings the doorbell. A full
  /// queue turns the request back with SRB_STATUS_BUSY (retried by the port).
  /// PRP1 and PRP2 for `bytes` at `buffer` (identity mapping: the host address is the device
  /// address; 4 KiB memory pages): PRP2 is the second page, or — past two pages — the PRP list
  /// in `list` (the command slot's page).
  static func setPrps(
    _ c: inout NvmeCommand, buffer: UnsafeMutableRawPointer, bytes: Int, list: UnsafeMutableRawPointer
  ) {
    let page = 4096
    let start = UInt64(UInt(bitPattern: buffer))
    c.prp1 = start
    let firstLength = page - Int(start % UInt64(page))
    guard bytes > firstLength else { return }
    let next = start + UInt64(firstLength)
    if bytes - firstLength <= page {
      c.prp2 = next
      return
    }
    let pages = (bytes - firstLength + page - 1) / page
    for i in 0..<pages { list.storeBytes(of: next + UInt64(i * page), toByteOffset: i * 8, as: UInt64.self) }
    c.prp2 = UInt64(UInt(bitPattern: list))
  }

  /// The queue whose MSI-X message targets this processor (StorPortGetStartIoPerfParams):
  /// submission, interrupt, DPC and completion then stay on one processor.
  func startIoQueue(_ ext: NvmeExtension, _ r: StorRequest) -> NvmeQueue {
    let message = Int(ext.port.getStartIoPerfParams(r).messageNumber)
    return ext.queues[(message >= 1 ? message - 1 : Int(r.channelNumber)) % ext.queues.count]
  }

  /// `fill` gets the command and the slot's page (a PRP or range list). `queue`: the queue to
  /// use (a later command of a request already on one), else StartIo's.
  func submit(
    _ ext: NvmeExtension, _ r: StorRequest, on queue: NvmeQueue? = nil,
    _ fill: (inout NvmeCommand, UnsafeMutableRawPointer) -> Void
  ) {
    submit(ext, r, on: queue, commands: 1) { _, c, list in fill(&c, list) }
  }

  /// Puts `commands` adjacent entries for `r` on the queue under its DpcLock (`fill` gets each
  /// one's index, the command, and its slot's page) and rings the doorbell once: the request
  /// holds one slot per command. Too few free slots, or a queue a reset has taken down (its
  /// DPC flushed it), turn the request back with SRB_STATUS_BUSY (retried by the port).
  func submit(
    _ ext: NvmeExtension, _ r: StorRequest, on queue: NvmeQueue? = nil, commands: Int,
    _ fill: (Int, inout NvmeCommand, UnsafeMutableRawPointer) -> Void
  ) {
    precondition(commands >= 1, "bug in swift-storport: a submission of no commands")
    let q = queue ?? startIoQueue(ext, r)
    let t = Int64(ext.port.queryPerformanceCounter().counter)
    let accepted = ext.port.withSpinLock(.dpcLock, context: q.dpc) { () -> Bool in
      // StartIo is held off while a reset takes the queues down (resetState); a later command
      // of a request already on a queue (from its DPC) is not, so it checks the queue is live.
      guard queue == nil || q.live.load() == 1, q.freeCids.count >= commands else { return false }
      for i in 0..<commands {
        let cid = q.freeCids.popLast()!
        q.slots[Int(cid)] = r
        var c = NvmeCommand()
        c.namespaceId = 1
        fill(i, &c, q.rangeLists + Int(cid) * 4096)
        c.commandId = cid
        c.store(to: q.sq + q.sqTail * 64)
        q.sqTail = (q.sqTail + 1) % q.depth
        if q.outstanding.increment() == 1 { _ = q.lastProgress.exchange(t) }
      }
      ext.device.write32(NvmeRegister.submissionTail(q.qid), UInt32(q.sqTail))
      return true
    }
    if !accepted {
      // As a reset's flush does: a WRITE SAME keeps what its completed chunks wrote.
      r.miniportContext = Self.stateAfterReset(r.miniportContext, submissions: r.submissions)
      r.srbStatus = .busy
      ext.port.requestComplete(r)
    }
  }
}
