import Storport
import StorportDevices
import StorportSCSI

/// Per-adapter state of ``NvmeMiniport``.
public final class NvmeExtension: DeviceExtension, @unchecked Sendable {
  // Written while the adapter starts or resets (StartIo held off by `resetState`), read on
  // every I/O: no dynamic exclusivity checks (see NvmeQueue).
  @exclusivity(unchecked) var device: NvmeController!
  @exclusivity(unchecked) var admin: NvmeAdminQueue!
  @exclusivity(unchecked) var queues: [NvmeQueue] = []
  /// The buffer an ORWRITE reads and ORs into, or a miscompared COMPARE AND WRITE reads the
  /// medium into, while it runs, by request (rare: a lock, an allocation).
  let bounceBuffers = Locked<[ObjectIdentifier: UnsafeMutableRawPointer]>([:])
  /// Non-data SCSI commands (INQUIRY, READ CAPACITY, MODE SENSE, …) once the namespace is known.
  @exclusivity(unchecked) public internal(set) var unit: LogicalUnit?
  var state = NvmeMiniport.State.disable
  var stateDeadline: UInt64 = 0
  var blockSize = 512
  var blockCount: UInt64 = 0
  var createIndex = 0

  /// Shared by HwStorTimer and the concurrent StartIo channels through interlocked operations
  /// only: 0 = running, 1 = starting or resetting (StartIo turns requests back with BUSY).
  public let resetState = InterlockedValue(1)
  /// StartIo calls currently past their check of `resetState`.
  public let startIoActive = InterlockedValue()
  /// Queues that have failed their outstanding requests back to the port during a reset.
  let flushedQueues = InterlockedValue()
  /// Set by StartIo (RESET LOGICAL UNIT / RESET DEVICE SRBs) and HwStorResetBus; the watchdog
  /// performs the reset. StartIo never touches the timer-owned state machine itself.
  let resetRequested = InterlockedValue()

  // Statistics.
  public let resets = InterlockedValue()
  public let startupsCompleted = InterlockedValue()
  public let staleCompletions = InterlockedValue()
  public let requeuedForReset = InterlockedValue()
  public required init() {}

  /// The start-up / watchdog state, for diagnostics.
  public var stateDescription: String { "\(state)" }
}

/// A physical NVMe miniport for the emulated ``NvmeController``, built the way the public OFA
/// NVMe Storport driver is:
///
/// * controller start-up is a HwStorTimer state machine re-armed every millisecond (disable →
///   wait not ready → admin queue → enable → wait ready → identify → create I/O queues);
/// * one MSI-X vector per completion queue; each ISR issues its queue's DPC, which drains the
///   completion queue under the queue's DpcLock and completes the SRBs;
/// * concurrent channels = I/O queues, so StartIo runs without the StartIo lock;
/// * a HwStorTimer watchdog finds stuck commands and fatal status and resets the controller —
///   sharing state with the concurrent StartIo channels only through interlocked operations,
///   as the HW_TIMER page requires; requests in flight at a reset go back to the port with
///   SRB_STATUS_BUSY and are retried after it;
/// * SCSI → NVMe translation of the data commands; the SCSI module for the rest.
public final class NvmeMiniport: Miniport, @unchecked Sendable {
  public typealias Extension = NvmeExtension
  public let initializationData = MiniportInitializationData(name: "nvme")
  /// MaximumTransferLength: the bytes one PRP pair of the emulated controller covers.
  public static let maximumTransferBytes = 128 * 1024
  /// Blocks one WRITE SAME may name (Block Limits VPD MAXIMUM WRITE SAME LENGTH).
  /// MAXIMUM WRITE SAME LENGTH. One Write Zeroes could name 65,536 blocks (NLB is 0-based in 16
  /// bits), but at 65,536 libiscsi's WriteSame16.Unmap goes on to WRITE and READ 65,536 blocks
  /// in one command — past MAXIMUM TRANSFER LENGTH, which that tool does not read over iSCSI — and
  /// fails; one block fewer keeps it to the part it can pass. The cost: a 0-block WRITE SAME
  /// from LBA 0 of a disk of exactly 65,536 blocks is refused (INVALID FIELD IN CDB).
  public static let maximumWriteSameBlocks: UInt64 = 0xFFFF
  public let device: NvmeController
  public let queueCount: Int
  public let queueDepth: Int
  /// A command outstanding this long with no progress on its queue is stuck.
  public let stuckTimeoutNanoseconds: UInt64
  public let watchdogMicroseconds: UInt32

  enum State: Equatable {
    case disable, waitNotReady, waitReady, identifyController, identifyNamespace, setQueues
    case createCq, createSq, running, draining, quiescing, flushing, stopped, failed
  }

  private var timer: HwTimer<NvmeExtension>!
  private var completionDpc: HwDpcRoutine<NvmeExtension>!
  private var passiveInit: HwPassiveInitializeRoutine<NvmeExtension>!

  public init(
    device: NvmeController, queues: Int = 2, queueDepth: Int = 256,
    stuckTimeoutMilliseconds: UInt64 = 50, watchdogMicroseconds: UInt32 = 5000
  ) {
    self.device = device
    queueCount = max(1, min(queues, device.configuration.ioQueues))
    self.queueDepth = min(queueDepth, device.configuration.maxQueueEntries)
    stuckTimeoutNanoseconds = stuckTimeoutMilliseconds * 1_000_000
    self.watchdogMicroseconds = watchdogMicroseconds
    // The routines refer back to this miniport unowned(unsafe): the runtime keeps the
    // miniport as long as its adapter runs, and a checked `unowned` reference would cost an
    // atomic operation on this shared object in every DPC and timer call.
    timer = HwTimer("NvmeTimer") { [unowned(unsafe) self] ext in stateMachine(ext) }
    completionDpc = HwDpcRoutine("NvmeCompletionDpc") { [unowned(unsafe) self] dpc, ext, q, _ in
      drain(ext, ext.queues[Int(q)])
      return true
    }
    passiveInit = HwPassiveInitializeRoutine("NvmePassiveInit") { [unowned(unsafe) self] ext in
      for q in ext.queues { ext.port.initializeDpc(q.dpc, completionDpc) }
      return true
    }
  }

  // MARK: - Start-up

  public func findAdapter(_ ext: NvmeExtension, _ c: inout PortConfiguration) -> FindAdapterResult {
    c.synchronizationModel = .fullDuplex
    c.interruptSynchronizationMode = .synchronizePerMessage
    c.messageCount = UInt32(queueCount + 1)  // vector 0 admin, vector q for I/O queue q
    c.maximumTransferLength = UInt32(Self.maximumTransferBytes)
    c.numberOfPhysicalBreaks = 32
    // "Map the registers" and allocate the queue memory (the uncached extension).
    ext.device = device
    if ext.admin == nil {
      ext.admin = NvmeAdminQueue()
      ext.queues = (1...queueCount).map { NvmeQueue(qid: $0, depth: queueDepth) }
    }
    return .found
  }

  public func initialize(_ ext: NvmeExtension) -> Bool {
    var perf = PerfConfigurationData()
    perf.flags = [.concurrentChannels]
    perf.concurrentChannels = UInt32(queueCount)
    _ = ext.port.initializePerfOpts(query: false, &perf)
    ext.port.enablePassiveInitialization(passiveInit)
    beginStartup(ext)
    return true
  }

  /// Holds I/O and runs the start-up state machine from the top.
  private func beginStartup(_ ext: NvmeExtension) {
    _ = ext.resetState.exchange(1)
    ext.port.pause(seconds: 30)
    ext.state = .disable
    ext.port.requestTimerCall(timer, microseconds: 1000)
  }

  private func now(_ ext: NvmeExtension) -> UInt64 { ext.port.queryPerformanceCounter().counter }

  /// HwStorTimer: the start-up state machine while starting, the watchdog while running.
  private func stateMachine(_ ext: NvmeExtension) {
    let d = ext.device!
    let t = now(ext)
    var next: UInt32 = 1000
    switch ext.state {
    case .disable:
      d.write32(NvmeRegister.cc, 0)
      ext.state = .waitNotReady
      ext.stateDeadline = t + 2_000_000_000
    case .waitNotReady:
      if d.read32(NvmeRegister.csts) & NvmeBits.cstsReady == 0 {
        ext.admin.reset()
        let a = ext.admin!
        d.write32(NvmeRegister.aqa, UInt32(a.depth - 1) | UInt32(a.depth - 1) << 16)
        d.write64(NvmeRegister.asq, UInt64(UInt(bitPattern: a.sq)))
        d.write64(NvmeRegister.acq, UInt64(UInt(bitPattern: a.cq)))
        d.write32(NvmeRegister.cc, NvmeBits.ccDefault | NvmeBits.ccEnable)
        // CAP.TO is in 500 ms units.
        ext.stateDeadline = t + UInt64((d.read64(NvmeRegister.cap) >> 24) & 0xFF) * 500_000_000
        ext.state = .waitReady
      } else if t > ext.stateDeadline {
        ext.state = .failed
      }
    case .waitReady:
      let csts = d.read32(NvmeRegister.csts)
      if csts & NvmeBits.cstsFatal != 0 {
        ext.state = .disable
      } else if csts & NvmeBits.cstsReady != 0 {
        var c = NvmeCommand()
        c.opcode = NvmeOpcode.identify
        c.prp1 = UInt64(UInt(bitPattern: ext.admin.data))
        c.cdw10 = 1
        ext.admin.submit(c, to: d)
        ext.state = .identifyController
      } else if t > ext.stateDeadline {
        ext.state = .failed
      }
    case .identifyController, .identifyNamespace, .setQueues, .createCq, .createSq:
      guard let done = ext.admin.poll(d) else {
        if d.read32(NvmeRegister.csts) & NvmeBits.cstsFatal != 0 { ext.state = .disable }
        break
      }
      guard done.status.isSuccess else {
        ext.state = .failed
        break
      }
      advanceAdmin(ext, d)
    case .running:
      next = watchdogMicroseconds
      watchdog(ext, t)
    case .draining:
      // Reset: wait until no StartIo is past its check, then disable the controller — it must
      // have let go of every command (and will DMA into no buffer) before any request goes
      // back to the port.
      if ext.startIoActive.compareExchange(exchange: 0, comparand: 0) == 0 {
        d.write32(NvmeRegister.cc, 0)
        ext.stateDeadline = t + 2_000_000_000
        ext.state = .quiescing
      }
    case .quiescing:
      // CSTS.RDY clear: the controller is reset; have every queue's DPC fail its outstanding
      // requests back to the port.
      if d.read32(NvmeRegister.csts) & NvmeBits.cstsReady == 0 {
        _ = ext.flushedQueues.exchange(0)
        for q in ext.queues {
          _ = q.flushRequested.exchange(1)
          ext.port.issueDpc(q.dpc, UInt(q.qid - 1), 0)
        }
        ext.state = .flushing
      } else if t > ext.stateDeadline {
        ext.state = .failed
      }
    case .flushing:
      if ext.flushedQueues.compareExchange(exchange: 0, comparand: Int64(ext.queues.count))
        == Int64(ext.queues.count)
      {
        ext.state = .disable
      }
    case .stopped, .failed:
      return
    }
    ext.port.requestTimerCall(timer, microseconds: next)
  }

  /// The admin command in flight completed: issue the next one.
  private func advanceAdmin(_ ext: NvmeExtension, _ d: NvmeController) {
    var c = NvmeCommand()
    c.prp1 = UInt64(UInt(bitPattern: ext.admin.data))
    switch ext.state {
    case .identifyController:
      c.opcode = NvmeOpcode.identify
      c.namespaceId = 1
      c.cdw10 = 0
      ext.state = .identifyNamespace
    case .identifyNamespace:
      let data = ext.admin.data
      ext.blockCount = data.load(fromByteOffset: 0, as: UInt64.self)
      let lbads = (data.load(fromByteOffset: 128, as: UInt32.self) >> 16) & 0xFF
      ext.blockSize = 1 << Int(lbads)
      let features = data.load(fromByteOffset: 24, as: UInt8.self)
      let thin = features & 1 != 0
      // NAWUN (valid with NSABP): the blocks one command writes atomically.
      let atomicBlocks = features & 0x02 != 0 ? Int(data.load(fromByteOffset: 34, as: UInt16.self)) + 1 : 0
      if ext.unit == nil {
        var config = LogicalUnitConfiguration()
        config.product = "STORPORT NVME"
        // COMPARE AND WRITE becomes a fused Compare + Write; each half within one transfer.
        config.maxCompareAndWriteBlocks = UInt8(min(255, Self.maximumTransferBytes / ext.blockSize))
        config.maxTransferBlocks = UInt32(Self.maximumTransferBytes / ext.blockSize)
        // WRITE SAME becomes one Write Zeroes, whose 0-based 16-bit NLB reaches 65,536 blocks;
        // reported one below that, so the limit is a 16-bit number for any initiator.
        config.maxWriteSameBlocks = Self.maximumWriteSameBlocks
        // NSATTR bit 0: a write-protected namespace is a write-protected LU (DATA PROTECT).
        config.readOnly = data.load(fromByteOffset: 99, as: UInt8.self) & 1 != 0
        // WRITE ATOMIC(16) becomes a Write within both the transfer limit and NAWUN.
        config.maxAtomicTransferBlocks = UInt32(min(atomicBlocks, Self.maximumTransferBytes / ext.blockSize))
        ext.unit = LogicalUnit(
          store: GeometryStore(blockSize: ext.blockSize, blockCount: ext.blockCount, thinProvisioned: thin),
          configuration: config)
      }
      c.opcode = NvmeOpcode.setFeatures
      c.cdw10 = 0x07
      c.cdw11 = UInt32(queueCount - 1) | UInt32(queueCount - 1) << 16
      ext.state = .setQueues
    case .setQueues:
      ext.createIndex = 0
      fallthrough
    case .createCq where ext.createIndex < ext.queues.count:
      let q = ext.queues[ext.createIndex]
      q.resetRings()
      c.opcode = NvmeOpcode.createCq
      c.prp1 = q.address.cq
      c.cdw10 = UInt32(q.qid) | UInt32(q.depth - 1) << 16
      c.cdw11 = 0x3 | UInt32(q.qid) << 16  // PC, IEN, vector = qid
      ext.createIndex += 1
      if ext.createIndex == ext.queues.count {
        ext.createIndex = 0
        ext.state = .createSq
      } else {
        ext.state = .createCq
      }
    case .createSq where ext.createIndex < ext.queues.count:
      let q = ext.queues[ext.createIndex]
      c.opcode = NvmeOpcode.createSq
      c.prp1 = q.address.sq
      c.cdw10 = UInt32(q.qid) | UInt32(q.depth - 1) << 16
      c.cdw11 = 0x1 | UInt32(q.qid) << 16  // PC, CQID
      ext.createIndex += 1
    case .createSq:
      // Every queue exists: open the gate.
      for q in ext.queues {
        _ = q.outstanding.exchange(0)
        _ = q.lastProgress.exchange(Int64(now(ext)))
        _ = q.live.exchange(1)
      }
      ext.state = .running
      ext.startupsCompleted.increment()
      _ = ext.resetState.exchange(0)
      ext.port.resume()
      return
    default:
      return
    }
    ext.admin.submit(c, to: d)
  }

  /// Stuck commands and fatal status start a reset.
  private func watchdog(_ ext: NvmeExtension, _ t: UInt64) {
    if ext.resetRequested.exchange(0) == 1 {
      startReset(ext)
      return
    }
    let fatal = ext.device.read32(NvmeRegister.csts) & NvmeBits.cstsFatal != 0
    var stuck = false
    for q in ext.queues where q.outstanding.load() > 0 {
      let since = q.lastProgress.load()
      if t > UInt64(since) && t - UInt64(since) > stuckTimeoutNanoseconds { stuck = true }
    }
    if fatal || stuck { startReset(ext) }
  }

  /// Claims the reset (compare-exchange against the StartIo channels) and holds new I/O.
  private func startReset(_ ext: NvmeExtension) {
    guard ext.resetState.compareExchange(exchange: 1, comparand: 0) == 0 else { return }
    ext.resets.increment()
    ext.port.pause(seconds: 30)
    ext.state = .draining
  }

  // MARK: - Interrupts and completion

  public func messageSignaledInterrupt(_ ext: NvmeExtension, messageId: UInt32) -> Bool {
    guard messageId >= 1, Int(messageId) <= ext.queues.count else { return true }  // admin: polled
    let q = ext.queues[Int(messageId) - 1]
    ext.port.issueDpc(q.dpc, UInt(messageId - 1), 0)
    return true
  }

  /// HwStorDpcRoutine of queue q: drains its completion queue under the DpcLock, then
  /// completes the SRBs outside it. During a reset it also fails what is still outstanding
  /// back to the port (SRB_STATUS_BUSY: retried after the reset).
  private func drain(_ ext: NvmeExtension, _ q: NvmeQueue) {
    var done = q.completedScratch
    var requeue = q.requeueScratch
    q.completedScratch = []
    q.requeueScratch = []
    defer {
      done.removeAll(keepingCapacity: true)
      requeue.removeAll(keepingCapacity: true)
      q.completedScratch = done
      q.requeueScratch = requeue
    }
    var flushed = false
    var flushedCommands = 0
    ext.port.withSpinLock(.dpcLock, context: q.dpc) {
      while q.live.load() == 1 {
        let e = NvmeCompletion.load(from: q.cq + q.cqHead * 16)
        guard e.phase == q.phase else { break }
        q.cqHead += 1
        if q.cqHead == q.depth {
          q.cqHead = 0
          q.phase.toggle()
        }
        let cid = Int(e.commandId)
        if cid < q.slots.count, let r = q.slots[cid] {
          q.slots[cid] = nil
          q.freeCids.append(e.commandId)
          done.append((r, e.status))
        } else {
          ext.staleCompletions.increment()
        }
      }
      if !done.isEmpty {
        ext.device.write32(NvmeRegister.completionHead(q.qid), UInt32(q.cqHead))
      }
      if q.flushRequested.compareExchange(exchange: 0, comparand: 1) == 1 {
        for cid in q.slots.indices {
          if let r = q.slots[cid] {
            q.slots[cid] = nil
            q.freeCids.append(UInt16(cid))
            flushedCommands += 1
            // A COMPARE AND WRITE holds two slots: it goes back once and starts over, and a
            // half that completed in this same pass is dropped (it must not complete it too).
            // A WRITE SAME keeps what its completed chunks wrote.
            r.miniportContext = Self.stateAfterReset(r.miniportContext, submissions: r.submissions)
            releaseBounceBuffer(ext, r)
            if !requeue.contains(where: { $0 === r }) { requeue.append(r) }
            let before = done.count
            done.removeAll { $0.0 === r }
            flushedCommands += before - done.count
          }
        }
        _ = q.live.exchange(0)
        q.resetRings()
        flushed = true
      }
    }
    let t = Int64(now(ext))
    for (r, status) in done {
      q.outstanding.decrement()
      _ = q.lastProgress.exchange(t)
      finish(ext, q, r, status)
    }
    for _ in 0..<flushedCommands { q.outstanding.decrement() }
    for r in requeue {
      ext.requeuedForReset.increment()
      r.srbStatus = .busy
      ext.port.requestComplete(r)
    }
    if flushed { ext.flushedQueues.increment() }
  }

  /// NVMe status → SRB / SCSI status and sense, then RequestComplete.
  private func finish(_ ext: NvmeExtension, _ q: NvmeQueue, _ r: StorRequest, _ status: NvmeStatus) {
    var status = status
    if r.miniportContext & Self.fusedPending != 0 {
      // A COMPARE AND WRITE completes once both halves have: a failure of either stands (the
      // Compare's miscompare over the Write's Failed Fused Command abort), else success.
      guard r.miniportContext & 1 != 0 else {
        r.miniportContext |= 1 | UInt(status.rawValue) << 16
        return
      }
      let first = NvmeStatus(rawValue: UInt16(truncatingIfNeeded: r.miniportContext >> 16))
      if status.isSuccess || (status == .abortedFailedFused && !first.isSuccess) { status = first }
      // The pair is resolved; what the request does next (an ORWRITE round) stays.
      r.miniportContext &= ~(Self.fusedPending | 0xFFFF_0001)
    }
    if r.miniportContext & (Self.orWriteRead | Self.orWriteSwap) != 0 {
      if continueOrWrite(ext, q, r, &status) { return }
      r.miniportContext = 0
    }
    // A COMPARE AND WRITE miscompare: read the blocks to say where (SBC-4: INFORMATION is the
    // offset of the first byte that differs), then complete.
    if r.miniportContext & Self.cawLocate != 0 {
      completeMiscompare(ext, r, read: status)
      return
    }
    if status == .compareFailure && BlockCommand.decode(r.cdb)?.kind == .compareAndWrite
      && locateMiscompare(ext, q, r)
    {
      return
    }
    if r.miniportContext & Self.writeSameChain != 0 {
      // WRITE SAME of a non-zero block: the next chunk, until the range is written.
      if status.isSuccess && continueWriteSame(ext, q, r) { return }
      r.miniportContext = 0
    }
    if status.isSuccess {
      r.srbStatus = .success
      r.scsiStatus = 0
      ext.port.requestComplete(r)
      return
    }
    let sense: SenseData
    switch status {
    case .lbaOutOfRange: sense = SenseData(.illegalRequest, .lbaOutOfRange)
    case .invalidOpcode: sense = SenseData(.illegalRequest, .invalidCommandOperationCode)
    case .invalidField, .invalidNamespace: sense = SenseData(.illegalRequest, .invalidFieldInCdb)
    case .compareFailure: sense = SenseData(.miscompare, .miscompareDuringVerify)
    case .namespaceWriteProtected: sense = SenseData(.dataProtect, .writeProtected)
    case .writeFault: sense = SenseData(.mediumError, .writeError)
    case .unrecoveredReadError: sense = SenseData(.mediumError, .unrecoveredReadError)
    case .abortedByRequest, .abortedSqDeletion:
      r.srbStatus = .busy
      ext.port.requestComplete(r)
      return
    default: sense = SenseData(.hardwareError, .internalTargetFailure)
    }
    r.apply(.check(sense), descriptorSense: ext.unit?.descriptorSense ?? false)
    ext.port.requestComplete(r)
  }

  // MARK: - Stop / restart / reset

  public func adapterControl(
    _ ext: NvmeExtension, _ type: AdapterControlType, _ p: inout AdapterControlParameters
  ) -> AdapterControlStatus {
    switch type {
    case .querySupportedControlTypes:
      p.supported = [.querySupportedControlTypes, .stopAdapter, .restartAdapter]
    case .stopAdapter:
      ext.device.write32(NvmeRegister.cc, 0)
      ext.state = .stopped
      _ = ext.resetState.exchange(1)
    case .restartAdapter:
      beginStartup(ext)
    default:
      return .unsuccessful
    }
    return .success
  }

  /// HwStorResetBus: the same controller reset the watchdog performs.
  public func resetBus(_ ext: NvmeExtension, pathId: UInt32) -> Bool {
    // Runs with the StartIo lock, as HwStorTimer does: it may drive the state machine.
    if ext.state == .running { startReset(ext) }
    return true
  }
}
