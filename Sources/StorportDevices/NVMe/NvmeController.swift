import Storport
import Synchronization

/// An emulated NVMe controller following the NVMe base specification's register and queue
/// model: CAP / VS / CC / CSTS / AQA / ASQ / ACQ, doorbells, an admin queue (Identify,
/// Create/Delete I/O SQ and CQ, Get/Set Features, Abort), I/O queues (Read, Write, Flush,
/// Dataset Management, Write Zeroes, Compare), completion entries with the phase bit, one MSI-X
/// vector per completion queue, and an enable/ready handshake that takes time.
///
/// Queues live in "host memory" the driver allocates; addresses (ASQ, ACQ, PRP1) are process
/// addresses. PRP1 points at one contiguous data buffer (no PRP lists). I/O commands run inline
/// at the doorbell when the latency is zero, otherwise when a platform timer fires — so on the
/// simulated platform the device is driven by the same seeded scheduler as the processors.
/// Admin commands always run at the doorbell: the latency models the medium.
public final class NvmeController: PlatformTimerTarget, @unchecked Sendable {
  /// The largest transfer one command may move (Identify Controller MDTS: 2^5 × 4 KiB).
  public static let maximumTransferBytes = 128 * 1024

  public struct Configuration: Sendable {
    /// CAP.MQES + 1: largest queue.
    public var maxQueueEntries = 4096
    /// I/O queue pairs the controller offers.
    public var ioQueues = 64
    /// Time from CC.EN = 1 to CSTS.RDY = 1 (real controllers take milliseconds).
    public var readyDelayNanoseconds: UInt64 = 1_000_000
    public var latency: LatencyModel = .fixed(nanoseconds: 0)
    public var faults = NvmeFaults.none
    public var seed: UInt64 = 1
    public var serial = "SPNVME0001"
    public var model = "swift-storport NVMe"
    public init() {}
  }

  public let configuration: Configuration
  public let store: BlockStore
  let platform: Platform
  /// Raises MSI-X vector n. Set once, when a driver connects the device's interrupts (at
  /// HwStorFindAdapter, before any command); a plain typed property — a closure kept in a
  /// generic container is re-abstracted on every read.
  private nonisolated(unsafe) var interruptSink: (@Sendable (UInt32) -> Void)?
  /// The adapter's device face, once connected: buffer ownership and protocol reports.
  nonisolated(unsafe) private(set) var link: DeviceLink?
  /// Protocol violations seen while no adapter is connected (tests of the device alone).
  public let protocolViolations = Locked<[String]>([])

  struct Registers {
    var cc: UInt32 = 0
    var csts: UInt32 = 0
    var aqa: UInt32 = 0
    var asq: UInt64 = 0
    var acq: UInt64 = 0
    /// Bumped by every reset: timers and deferred completions of an older generation die.
    var generation: UInt64 = 0
    var readyPending = false
  }
  let registers = Locked(Registers())
  /// Exclusion by block stripe (see NvmeController+Fused.swift).
  let stripeLocks = StripeLocks()
  /// What every doorbell asks of the registers, published by each change of CSTS or the
  /// generation (always under the registers' lock): `generation << 1 | 1` when the controller
  /// is ready and not failed, `generation << 1` otherwise. Read without the lock, so the
  /// submission path of every processor does not share the registers' lock and line.
  private let runState = Atomic<UInt64>(0)
  /// log2 of the memory page size in force (CC.MPS: 4 KiB << MPS), published with ``runState``.
  let pageShift = Atomic<UInt32>(12)

  /// Changes the registers under their lock and publishes ``runState``.
  private func updateRegisters<R>(_ body: (inout Registers) -> R) -> R {
    registers.withLock { r in
      let result = body(&r)
      let ok: UInt64 = r.csts & NvmeBits.cstsReady != 0 && r.csts & NvmeBits.cstsFatal == 0 ? 1 : 0
      runState.store(r.generation << 1 | ok, ordering: .releasing)
      pageShift.store(12 + (r.cc >> 7) & 0xF, ordering: .releasing)
      return result
    }
  }

  struct SubmissionQueue {
    var exists = false
    var base: UInt64 = 0
    var size = 0
    var head = 0
    var tail = 0
    var cqid = 0
    var rng = SeededRandom(seed: 0)
    /// Commands fetched and not completed, by command identifier: the data buffer address
    /// with bit 0 set (0: free). Identifiers below the queue size index `inFlight`; others
    /// (legal, rare) go to `inFlightOther`.
    var inFlight: [UInt64] = []
    var inFlightOther: [UInt16: UInt64] = [:]

    /// Marks `cid` in flight with `buffer`; false if it already was (a reused identifier).
    mutating func begin(_ cid: UInt16, buffer: UInt64) -> Bool {
      let mark = buffer | 1
      if Int(cid) < inFlight.count {
        if inFlight[Int(cid)] != 0 { return false }
        inFlight[Int(cid)] = mark
        return true
      }
      return inFlightOther.updateValue(mark, forKey: cid) == nil
    }

    /// Ends `cid`; its buffer (0 for none or when it was not in flight).
    mutating func end(_ cid: UInt16) -> UInt64 {
      let mark: UInt64
      if Int(cid) < inFlight.count {
        mark = inFlight[Int(cid)]
        inFlight[Int(cid)] = 0
      } else {
        mark = inFlightOther.removeValue(forKey: cid) ?? 0
      }
      return mark & ~1
    }
  }
  struct CompletionQueue {
    var exists = false
    var base: UInt64 = 0
    var size = 0
    var tail = 0
    var head = 0
    var phase = true
    var vector: UInt32 = 0
    var interruptsEnabled = true
  }
  let sqs: SpinLockedArray<SubmissionQueue>
  let cqs: SpinLockedArray<CompletionQueue>

  /// Deferred completions (latency > 0), by timer cookie.
  struct Deferred {
    var generation: UInt64
    var sqid: Int
    var command: NvmeCommand
    var interruptOnly: Bool
  }
  let deferred = Locked<(next: UInt64, items: [UInt64: Deferred])>((1, [:]))
  /// Commands started (statistics).
  let commandCount = Atomic<UInt64>(0)
  public var commands: UInt64 { commandCount.load(ordering: .relaxed) }
  /// I/O submission queues the driver has created (and not deleted).
  public var ioSubmissionQueues: Int { (1..<sqs.count).filter { sqs.withLock($0) { $0.exists } }.count }
  /// CSTS.RDY: the controller is enabled and ready.
  public var isReady: Bool { registers.withLock { $0.csts } & 1 != 0 }
  public let injectedFaults = Locked<[String: Int]>([:])

  static let readyCookie: UInt64 = 0

  public init(store: BlockStore, platform: Platform, configuration: Configuration = Configuration()) {
    self.store = store
    self.platform = platform
    self.configuration = configuration
    // Each queue's fault/latency generator lives as long as the controller: a reset must not
    // replay the same rolls (or a fault on the first command after a reset would recur forever).
    sqs = SpinLockedArray(
      (0...configuration.ioQueues).map { qid in
        var q = SubmissionQueue()
        q.rng = SeededRandom(seed: configuration.seed &+ UInt64(qid) &* 0x9E37_79B9)
        return q
      })
    cqs = SpinLockedArray((0...configuration.ioQueues).map { _ in CompletionQueue() })
  }

  /// Connects the MSI-X vectors to an interrupt sink (the adapter's `raiseInterrupt`).
  public func connectInterrupts(_ link: DeviceLink) {
    self.link = link
    connectInterrupts { [link] vector in link.raiseInterrupt(message: vector) }
  }

  /// The driver broke the protocol: reported to the adapter (DEVICE_PROTOCOL_VIOLATION).
  func protocolViolation(_ message: String) {
    countFault("protocol-violation")
    if let link {
      link.reportProtocolViolation(message)
    } else {
      protocolViolations.withLock { $0.append(message) }
    }
  }

  /// Whether `c` moves data through its PRP1 buffer (the buffer the device then owns).
  static func movesData(_ c: NvmeCommand) -> Bool {
    c.opcode == NvmeOpcode.read || c.opcode == NvmeOpcode.write || c.opcode == NvmeOpcode.compare
  }

  /// Connects the MSI-X vectors to any interrupt sink (tests that watch the device alone).
  public func connectInterrupts(_ sink: @escaping @Sendable (UInt32) -> Void) {
    interruptSink = sink
  }

  func raise(_ vector: UInt32) { interruptSink?(vector) }

  func countFault(_ name: String) { injectedFaults.withLock { $0[name, default: 0] += 1 } }

  // MARK: - Registers (MMIO)

  /// CAP: MQES, CQR = 1, TO (500 ms units) from the ready delay, DSTRD = 0, CSS NVM.
  public var capabilities: UInt64 {
    let timeout = max(
      1, (configuration.readyDelayNanoseconds + configuration.faults.slowStartNanoseconds) / 500_000_000 + 1)
    return UInt64(configuration.maxQueueEntries - 1) | 1 << 16 | (min(timeout, 255) << 24) | 1 << 37
  }

  public func read32(_ offset: Int) -> UInt32 {
    switch offset {
    case NvmeRegister.cap: return UInt32(truncatingIfNeeded: capabilities)
    case NvmeRegister.cap + 4: return UInt32(truncatingIfNeeded: capabilities >> 32)
    case NvmeRegister.vs: return 0x0001_0400  // 1.4
    case NvmeRegister.cc: return registers.withLock { $0.cc }
    case NvmeRegister.csts: return registers.withLock { $0.csts }
    case NvmeRegister.aqa: return registers.withLock { $0.aqa }
    default: return 0
    }
  }

  public func read64(_ offset: Int) -> UInt64 {
    switch offset {
    case NvmeRegister.cap: return capabilities
    case NvmeRegister.asq: return registers.withLock { $0.asq }
    case NvmeRegister.acq: return registers.withLock { $0.acq }
    default: return UInt64(read32(offset)) | UInt64(read32(offset + 4)) << 32
    }
  }

  public func write64(_ offset: Int, _ value: UInt64) {
    switch offset {
    case NvmeRegister.asq: registers.withLock { $0.asq = value }
    case NvmeRegister.acq: registers.withLock { $0.acq = value }
    default:
      write32(offset, UInt32(truncatingIfNeeded: value))
      write32(offset + 4, UInt32(truncatingIfNeeded: value >> 32))
    }
  }

  public func write32(_ offset: Int, _ value: UInt32) {
    switch offset {
    case NvmeRegister.cc: writeControllerConfiguration(value)
    case NvmeRegister.aqa: registers.withLock { $0.aqa = value }
    case let o where o >= NvmeRegister.doorbellBase:
      let index = (o - NvmeRegister.doorbellBase) / 4
      let qid = index / 2
      guard qid < sqs.count else { return }
      if index % 2 == 0 {
        submissionDoorbell(qid, tail: Int(value))
      } else {
        cqs.withLock(qid) { $0.head = Int(value) }
      }
    default: break
    }
  }

  private func writeControllerConfiguration(_ value: UInt32) {
    let action = updateRegisters { r -> (enable: Bool, disable: Bool, generation: UInt64) in
      let was = r.cc & NvmeBits.ccEnable != 0
      let now = value & NvmeBits.ccEnable != 0
      r.cc = value
      if !was && now {
        r.generation &+= 1
        r.readyPending = true
        return (true, false, r.generation)
      }
      if was && !now {
        r.generation &+= 1
        r.csts = 0  // RDY and CFS clear on reset
        r.readyPending = false
        return (false, true, r.generation)
      }
      return (false, false, r.generation)
    }
    if action.disable { resetQueues() }
    if action.enable {
      let delay = configuration.readyDelayNanoseconds + configuration.faults.slowStartNanoseconds
      if configuration.faults.slowStartNanoseconds > 0 { countFault("slow-start") }
      platform.arm(
        deadline: PlatformTime(nanoseconds: platform.now().nanoseconds &+ delay), target: self,
        cookie: Self.readyCookie | action.generation << 1,
        processor: nil)
    }
  }

  private func resetQueues() {
    for i in 0..<sqs.count { sqs.withLock(i) { $0 = SubmissionQueue(rng: $0.rng) } }
    for i in 0..<cqs.count { cqs.withLock(i) { $0 = CompletionQueue() } }
    deferred.withLock { $0.items.removeAll() }
    link?.giveBackAll()  // a reset ends every command: no more DMA into anyone's buffer
  }

  /// Platform timer: the ready transition (even cookies) or a deferred completion (odd).
  public func fire(cookie: UInt64) {
    if cookie & 1 == 0 {
      let generation = cookie >> 1
      let ready = updateRegisters { r -> Bool in
        guard r.readyPending, r.generation == generation else { return false }
        r.readyPending = false
        // Admin queue from AQA / ASQ / ACQ.
        let asqs = Int(r.aqa & 0xFFF) + 1
        let acqs = Int((r.aqa >> 16) & 0xFFF) + 1
        guard r.asq != 0, r.acq != 0, asqs >= 2, acqs >= 2 else {
          r.csts = NvmeBits.cstsFatal
          return false
        }
        sqs.withLock(0) { $0 = SubmissionQueue(exists: true, base: r.asq, size: asqs, cqid: 0, rng: $0.rng) }
        cqs.withLock(0) { $0 = CompletionQueue(exists: true, base: r.acq, size: acqs) }
        r.csts = NvmeBits.cstsReady
        return true
      }
      _ = ready
      return
    }
    let item = deferred.withLock { $0.items.removeValue(forKey: cookie >> 1) }
    guard let item, item.generation == runState.load(ordering: .acquiring) >> 1 else { return }
    if item.interruptOnly {
      let vector = cqs.withLock(sqs.withLock(item.sqid) { $0.cqid }) { $0.vector }
      raise(vector)
    } else {
      complete(sqid: item.sqid, command: item.command, interrupt: true)
    }
  }

  private func schedule(after ns: UInt64, _ d: Deferred) {
    let key = deferred.withLock { s -> UInt64 in
      let k = s.next
      s.next &+= 1
      s.items[k] = d
      return k
    }
    platform.arm(
      deadline: PlatformTime(nanoseconds: platform.now().nanoseconds &+ ns), target: self,
      cookie: key << 1 | 1, processor: nil)
  }

  // MARK: - Submission

  private var operational: Bool { runState.load(ordering: .acquiring) & 1 != 0 }

  private func submissionDoorbell(_ qid: Int, tail: Int) {
    let state = runState.load(ordering: .acquiring)
    guard state & 1 != 0 else { return }
    let generation = state >> 1
    var first = true
    // Take up to 8 new entries per lock hold (9 when the 8th is the first of a fused pair:
    // its partner comes with it) into a fixed-size batch (no allocation), run them outside
    // the lock, repeat until the queue is empty. The controller checks its caller: a doorbell
    // past the end of the queue is ignored and reported; a command whose identifier is still
    // in flight on this queue is reported and not run.
    while true {
      var batch = InlineArray<9, (NvmeCommand, UInt64)>(repeating: (NvmeCommand(), 0))
      var badTail: Int? = nil
      var reused = InlineArray<9, Bool>(repeating: false)
      var drained = true
      let n = sqs.withLock(qid) { q -> Int in
        guard q.exists else { return 0 }
        if first {
          if tail < q.size { q.tail = tail } else { badTail = q.size }
        }
        var n = 0
        // Written out, not a nested function: a local function capturing `batch` and `n`
        // made every access a dynamic exclusivity check (about 300 instructions per command).
        while n < 8 && q.head != q.tail {
          for pass in 0..<2 {
            let entry = UnsafeRawPointer(bitPattern: UInt(q.base))! + q.head * 64
            let command = NvmeCommand.load(from: entry)
            batch[n] = (command, q.rng.next())
            reused[n] = !q.begin(command.commandId, buffer: Self.movesData(command) ? command.prp1 : 0)
            q.head = (q.head + 1) % q.size
            n += 1
            // The first of a fused pair brings its partner (one more pass), if it is there.
            if pass == 1 || command.fuse != NvmeFuse.first || q.head == q.tail { break }
          }
        }
        drained = q.head == q.tail
        return n
      }
      first = false
      if let size = badTail {
        protocolViolation(
          "submission queue \(qid) doorbell written with tail \(tail), past the queue's \(size) entries")
      }
      guard n > 0 else { return }
      var i = 0
      while i < n {
        let command = batch[i].0
        defer { i += 1 }
        if reused[i] {
          protocolViolation(
            "command identifier \(command.commandId) reused on submission queue \(qid) while still in flight")
          continue
        }
        if Self.movesData(command) { link?.take(UnsafeRawPointer(bitPattern: UInt(command.prp1))) }
        if command.fuse != 0 {
          // A fused pair is the first and the adjacent second of one doorbell write; anything
          // else is aborted as a missing fused command.
          if command.fuse == NvmeFuse.first, i + 1 < n, batch[i + 1].0.fuse == NvmeFuse.second, !reused[i + 1]
          {
            let second = batch[i + 1].0
            if Self.movesData(second) { link?.take(UnsafeRawPointer(bitPattern: UInt(second.prp1))) }
            runFused(qid: qid, command, second)
            i += 1
          } else {
            commandCount.add(1, ordering: .relaxed)
            post(sqid: qid, command: command, status: .abortedMissingFused, result: 0, interrupt: true)
          }
          continue
        }
        if !run(qid: qid, command, roll: batch[i].1, generation: generation) { return }
      }
      // The queue was empty when taken: a later doorbell write drains what arrives after (its
      // writer runs this loop), so no second look under the lock.
      if drained { return }
    }
  }

  /// Runs one command with its draw (the fault roll is its remainder by 1,000,000 — ppm —,
  /// the latency its scaling over the latency range: near independent); false when the
  /// controller just failed (CFS).
  private func run(qid: Int, _ command: NvmeCommand, roll draw: UInt64, generation: UInt64) -> Bool {
    let roll = UInt32(draw % 1_000_000)
    commandCount.add(1, ordering: .relaxed)
    let f = configuration.faults
    var threshold: UInt32 = 0
    func hit(_ ppm: UInt32) -> Bool {
      defer { threshold &+= ppm }
      return ppm > 0 && roll >= threshold && roll < threshold &+ ppm
    }
    if qid != 0 && hit(f.fatalStatusPpm) {
      countFault("fatal")
      updateRegisters { $0.csts |= NvmeBits.cstsFatal }
      return false
    }
    if qid != 0 && hit(f.stuckCommandPpm) {
      countFault("stuck-command")
      return true
    }
    if qid != 0 && hit(f.dropCompletionPpm) {
      countFault("drop-completion")
      _ = execute(qid: qid, command)
      return true
    }
    let delayInterrupt = qid != 0 && hit(f.delayInterruptPpm)
    let spurious = qid != 0 && hit(f.spuriousInterruptPpm)
    // The latency is the medium's: admin commands (Identify, queue creation, features) are
    // answered at once, as a controller answers them from its own state — else a controller
    // reset, which runs a handful of them, would take that many I/O latencies.
    let latency = qid == 0 ? 0 : latencyFor(draw)
    if latency == 0 {
      complete(sqid: qid, command: command, interrupt: !delayInterrupt)
    } else {
      schedule(
        after: latency, Deferred(generation: generation, sqid: qid, command: command, interruptOnly: false))
    }
    if delayInterrupt {
      countFault("delay-interrupt")
      if latency == 0 {
        schedule(
          after: f.delayInterruptNanoseconds,
          Deferred(generation: generation, sqid: qid, command: command, interruptOnly: true))
      }
    }
    if spurious {
      countFault("spurious-interrupt")
      raise(cqs.withLock(sqs.withLock(qid) { $0.cqid }) { $0.vector })
    }
    return true
  }

  private func latencyFor(_ draw: UInt64) -> UInt64 {
    switch configuration.latency {
    case .fixed(let ns): return ns
    // The whole 64-bit draw scaled over the range (Lemire's multiply-high): the fault roll is
    // its remainder by 10^6, so the two are near independent. (The fault roll taken modulo the
    // range never went more than 1 ms above the minimum.)
    case .uniform(let lo, let hi):
      return hi <= lo ? lo : lo + (hi - lo).multipliedFullWidth(by: draw).high
    }
  }

  /// Runs a fused Compare + Write at once (no fault injection or latency applies to fused
  /// pairs) and posts both completions, the Compare's first, one interrupt after the second.
  private func runFused(qid: Int, _ first: NvmeCommand, _ second: NvmeCommand) {
    commandCount.add(2, ordering: .relaxed)
    let (compared, written) = qid == 0 ? (.invalidField, .abortedFailedFused) : executeFused(first, second)
    post(sqid: qid, command: first, status: compared, result: 0, interrupt: false)
    post(sqid: qid, command: second, status: written, result: 0, interrupt: true)
  }

  /// Runs a command and posts its completion (with an interrupt unless told otherwise).
  private func complete(sqid: Int, command: NvmeCommand, interrupt: Bool) {
    let (status, result) = execute(qid: sqid, command)
    post(sqid: sqid, command: command, status: status, result: result, interrupt: interrupt)
  }

  /// Posts a completion entry for `command` (ending it on its queue, giving back its buffer)
  /// and raises the queue's interrupt unless told otherwise.
  private func post(sqid: Int, command: NvmeCommand, status: NvmeStatus, result: UInt32, interrupt: Bool) {
    let (cqid, head, buffer) = sqs.withLock(sqid) { ($0.cqid, $0.head, $0.end(command.commandId)) }
    if buffer != 0 { link?.giveBack(UnsafeRawPointer(bitPattern: UInt(buffer))) }
    var entry = NvmeCompletion()
    entry.commandId = command.commandId
    entry.sqId = UInt16(sqid)
    entry.sqHead = UInt16(head)
    entry.status = status
    entry.result = result
    let vector = cqs.withLock(cqid) { q -> UInt32? in
      guard q.exists else { return nil }
      entry.phase = q.phase
      let slot = UnsafeMutableRawPointer(bitPattern: UInt(q.base))! + q.tail * 16
      entry.store(to: slot)
      q.tail += 1
      if q.tail == q.size {
        q.tail = 0
        q.phase.toggle()
      }
      return q.interruptsEnabled ? q.vector : nil
    }
    if interrupt, let vector { raise(vector) }
  }

  /// Executes a command against the store or the queue tables: (status, DW0 result).
  func execute(qid: Int, _ c: NvmeCommand) -> (NvmeStatus, UInt32) {
    qid == 0 ? executeAdmin(c) : executeIo(c)
  }
}
