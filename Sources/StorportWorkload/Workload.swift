import Histogram
import Storport
import StorportDevices
import StorportSCSI
import StorportSamples
import Synchronization

/// A fio-like closed-loop workload against one adapter: `numjobs` independent jobs, each
/// keeping `iodepth` requests outstanding over its own slice of the region, from pooled
/// requests (no allocation per I/O).
///
/// With `--verify crc32c` every write carries a ``VerifyHeader`` and the unit's generation is
/// tracked in a ``VerifyState``; every read of a unit with a known generation — written by
/// this run or by an earlier one whose state was loaded — is checked, and a mismatch fails the
/// run naming the LBA, what was expected and what was found. Two requests never touch the same
/// unit at once while verifying, so verification is exact. With `--verify_only` the jobs read
/// every written unit once and stop.
public final class Workload: @unchecked Sendable {
  public let options: WorkloadOptions
  public let target: WorkloadTarget
  public let rig: WorkloadRig
  let unitBytes: Int
  let blocksPerUnit: Int
  let jobs: [Job]
  /// Generations to verify against and to update (nil without `--verify`).
  let state: VerifyState?
  let seed32: UInt32
  // What `issue` needs of the options, kept as plain values (no struct copy per I/O).
  let readPercent: Int
  let isRandom: Bool
  let verifyOnly: Bool
  let issuing = Atomic<Bool>(false)
  let outstanding = Atomic<Int>(0)
  let failures = Locked(FailureLog())

  struct Slot {
    var unit: UInt64 = 0
    var generation: UInt32 = 0
    var isWrite = false
    var active = false
  }

  /// One direction's running totals.
  struct Tally {
    var ios: UInt64 = 0
    var bytes: UInt64 = 0
    var errors: UInt64 = 0
    var histogram = Histogram<UInt64>(
      highestTrackableValue: 600_000_000_000, numberOfSignificantValueDigits: .three)
  }

  struct JobState {
    var rng: SeededRandom
    var cursor: UInt64 = 0
    var slots: [Slot]
    /// Units with a request in flight (verify runs only: 1 bit per unit).
    var inFlight: [UInt64]
    var read = Tally()
    var write = Tally()
    var verifiedReads: UInt64 = 0
    var verifyFailures: UInt64 = 0
    /// Units newer than a killed earlier run recorded (accepted).
    var newerThanRecorded: UInt64 = 0

    func busy(_ u: UInt64) -> Bool { !inFlight.isEmpty && inFlight[Int(u >> 6)] & (1 << (u & 63)) != 0 }
    mutating func mark(_ u: UInt64, _ on: Bool) {
      guard !inFlight.isEmpty else { return }
      if on { inFlight[Int(u >> 6)] |= 1 << (u & 63) } else { inFlight[Int(u >> 6)] &= ~(1 << (u & 63)) }
    }
  }

  final class Job: @unchecked Sendable {
    let index: Int
    let firstUnit: UInt64
    let unitCount: UInt64
    let pool: StorRequestPool
    /// Guards this job's counters, its slots and its slice of the verify state.
    let state: Locked<JobState>
    /// The slot of the request with each tag, outside the lock: an entry belongs to that one
    /// request — `issue` writes it before submitting, the completion reads it after (the port's
    /// hand-off orders the two), so a completion reads its slot without taking the lock. Its
    /// `active` flag is not kept here (`JobState.slots` has it, under the lock).
    let slotsByTag: UnsafeMutablePointer<Slot>
    /// Completion handler, made once (no closure allocation per I/O).
    @exclusivity(unchecked) var completion: (@Sendable (StorRequest) -> Void)!
    init(
      index: Int, firstUnit: UInt64, unitCount: UInt64, depth: Int, bytes: Int, seed: UInt64,
      tracksUnits: Bool
    ) {
      self.index = index
      self.firstUnit = firstUnit
      self.unitCount = unitCount
      pool = StorRequestPool(count: depth, bufferBytes: bytes)
      // Write data that is not all zeros (as fio's default: random buffers, filled once), so
      // devices that compress or deduplicate see realistic data. Verified writes replace it.
      pool.withEachBuffer { slot, buffer in
        var rng = SeededRandom(seed: seed ^ UInt64(index) << 32 ^ UInt64(slot) &* 0x9E37_79B9_7F4A_7C15)
        let words = buffer.count / 8
        let p = buffer.baseAddress!.assumingMemoryBound(to: UInt64.self)
        for i in 0..<words { p[i] = rng.next() }
      }
      slotsByTag = .allocate(capacity: depth)
      slotsByTag.initialize(repeating: Slot(), count: depth)
      state = Locked(
        JobState(
          rng: SeededRandom(seed: seed &+ UInt64(index) &* 0x1000_0001),
          slots: [Slot](repeating: Slot(), count: depth),
          inFlight: tracksUnits ? [UInt64](repeating: 0, count: Int((unitCount + 63) / 64)) : []))
    }
    var units: Range<UInt64> { firstUnit..<(firstUnit + unitCount) }

    deinit { slotsByTag.deallocate() }
  }

  /// Validates `options`, resolves the target, opens it and starts the adapter. Nothing is
  /// created, grown or written before validation has passed.
  public convenience init(_ options: WorkloadOptions) throws(WorkloadError) {
    do { try options.validate() } catch { throw .option(error) }
    try self.init(options, resolved: WorkloadTarget.resolve(options))
  }

  /// Opens the target `WorkloadTarget.resolve` described (creating or growing it only as
  /// it says) and starts the adapter. `options` must have passed ``WorkloadOptions/validate()``.
  public init(_ options: WorkloadOptions, resolved: (WorkloadTarget, VerifyState?)) throws(WorkloadError) {
    let (target, state) = resolved
    self.options = options
    self.target = target
    self.state = state
    rig = try WorkloadRig(options, target: target)
    unitBytes = target.unitBytes
    blocksPerUnit = unitBytes / target.logicalBlockSize
    seed32 = UInt32(truncatingIfNeeded: options.seed)
    readPercent = options.effectiveReadPercent
    isRandom = options.pattern.isRandom
    verifyOnly = options.verifyOnly
    guard rig.adapter.state == .running else {
      let why = "adapter did not start (\(rig.adapter.state)); verifier: \(rig.runtime.verifier.verdict)"
      rig.runtime.shutdown()
      throw .adapterFailed(why)
    }
    let maxTransfer = Int(rig.adapter.configuration.maximumTransferLength)
    precondition(
      maxTransfer == 0 || unitBytes <= maxTransfer,
      "bug in swift-storport: --bs \(unitBytes) passed validation but the miniport accepts \(maxTransfer)")
    let n = UInt64(options.jobs)
    let units = target.unitCount
    jobs = (0..<options.jobs).map { j in
      let first = units * UInt64(j) / n
      let end = units * UInt64(j + 1) / n
      return Job(
        index: j, firstUnit: first, unitCount: end - first, depth: options.iodepth, bytes: target.unitBytes,
        seed: options.seed, tracksUnits: state != nil)
    }
    // unowned(unsafe): the workload and its jobs outlive every request they issue (a run waits
    // for all of them); a checked `unowned` would be an atomic operation per completion.
    for job in jobs {
      job.completion = { [unowned(unsafe) self, unowned(unsafe) job] r in completed(job, r) }
    }
  }

  /// What the progress callback sees.
  public struct Progress: Sendable {
    /// Platform time since the start, in nanoseconds (virtual when simulated).
    public let elapsedNanoseconds: UInt64
    /// I/Os completed successfully so far, by direction.
    public let readIos: UInt64
    public let writeIos: UInt64
    /// Bytes transferred so far, by direction.
    public let readBytes: UInt64
    public let writeBytes: UInt64

    public init(
      elapsedNanoseconds: UInt64, readIos: UInt64, writeIos: UInt64, readBytes: UInt64, writeBytes: UInt64
    ) {
      self.elapsedNanoseconds = elapsedNanoseconds
      self.readIos = readIos
      self.writeIos = writeIos
      self.readBytes = readBytes
      self.writeBytes = writeBytes
    }
  }

  /// How a front end asks a run to stop early.
  public struct StopControl: Sendable {
    /// The stop signal received (SIGINT 2, SIGTERM 15), or 0: stop issuing, drain, report.
    public var signal: @Sendable () -> Int32
    /// True once the user asked again: stop waiting for outstanding requests.
    public var abandonDrain: @Sendable () -> Bool
    public init(signal: @escaping @Sendable () -> Int32, abandonDrain: @escaping @Sendable () -> Bool) {
      self.signal = signal
      self.abandonDrain = abandonDrain
    }
    /// SIGINT / SIGTERM through ``HostInfo``: the first stops issuing, the second the drain.
    public static let signals = StopControl(
      signal: { HostInfo.stopSignal }, abandonDrain: { HostInfo.stopSignalCount >= 2 })
  }

  /// Runs for `runtimeNanoseconds` (virtual when simulated) — or, with `--verify_only`, until
  /// every written unit was checked — then drains and returns the figures. Rates are taken
  /// over the whole time to the last completion, drain included.
  /// - Parameters:
  ///   - progressEvery: wall-clock nanoseconds between `progress` calls.
  ///   - stop: polled every slice (50 ms live, 5 ms of virtual time simulated); a signal stops
  ///     issuing, drains what is outstanding and returns partial figures marked with it.
  public func run(
    progressEvery: UInt64 = 1_000_000_000, progress: ((Progress) -> Void)? = nil, stop: StopControl? = nil
  ) -> WorkloadResult {
    let runtime = rig.runtime
    if options.writes { saveState(inProgress: true) }
    issuing.store(true, ordering: .releasing)
    let start = runtime.now
    let cpu0 = HostClock.processCPUNanoseconds
    var lastProgress = HostClock.monotonicNanoseconds
    for job in jobs {
      for _ in 0..<options.iodepth {
        let r = job.pool.take()!
        outstanding.add(1, ordering: .relaxed)
        if !issue(job, r) { finish(job, r) }
      }
    }
    let limit = verifyOnly ? UInt64.max : options.runtimeNanoseconds
    var interrupted: Int32? = nil
    loop: while true {
      let elapsed = runtime.now &- start
      if elapsed >= limit || outstanding.load(ordering: .acquiring) == 0 { break }
      if let sig = stop?.signal(), sig != 0 {
        interrupted = sig
        break
      }
      let outcome = runtime.run(
        forNanoseconds: min(limit - elapsed, options.simulated ? 5_000_000 : 50_000_000))
      switch outcome {
      case .deadlock, .stuck:
        failures.withLock { $0.add("the simulation could not go on: \(outcome)") }
        break loop
      default: break
      }
      let wall = HostClock.monotonicNanoseconds
      if let progress, wall &- lastProgress >= progressEvery {
        lastProgress = wall
        progress(snapshot(runtime.now &- start))
      }
    }
    issuing.store(false, ordering: .releasing)
    runtime.runUntil(timeoutNanoseconds: options.simulated ? 2_000_000_000 : 30_000_000_000) { [self] in
      outstanding.load(ordering: .acquiring) == 0 || stop?.abandonDrain() == true
    }
    let duration = runtime.now &- start
    let cpu = HostClock.processCPUNanoseconds &- cpu0
    let stuck = outstanding.load(ordering: .acquiring)
    if stuck > 0 && stop?.abandonDrain() == true {
      failures.withLock {
        $0.add("a second signal: \(stuck) request(s) still outstanding were not waited for")
      }
      forgetUnfinishedWrites()
    } else if stuck > 0 {
      var why =
        "adapter \(rig.adapter.state), paused \(rig.adapter.isPaused), queued \(rig.adapter.statistics.queuedRequests)"
      if rig.device != nil, options.miniportLibrary == nil {
        why += ", miniport state \(rig.adapter.deviceExtension(as: NvmeExtension.self).stateDescription)"
      }
      failures.withLock { $0.add("\(stuck) request(s) never completed (\(why))") }
      forgetUnfinishedWrites()
    }
    let saved = options.writes ? saveState(inProgress: false) : nil
    return result(duration: duration, cpu: cpu, interrupted: interrupted, stateSavedTo: saved)
  }

  /// Saves the verify state of a file target: a consistent copy, each job's slice taken under
  /// that job's lock (completions may still arrive on the live platform). Returns the path,
  /// or nil (with a failure logged) if it could not be written.
  @discardableResult
  private func saveState(inProgress: Bool) -> String? {
    guard let state, let path = target.verifyStatePath else { return nil }
    let copy = state.resized(to: state.unitCount, targetBytes: target.sizeBytes, seed: options.seed)
    for job in jobs { job.state.withLock { _ in state.copy(job.units, into: copy) } }
    copy.inProgress = inProgress
    do {
      try copy.save(to: path)
      return path
    } catch {
      failures.withLock { $0.add("could not save the verify state: \(error)") }
      return nil
    }
  }

  /// Stops the adapter and the runtime (call once done with the rig).
  public func shutdown() {
    rig.adapter.stop()
    rig.runtime.runUntil(timeoutNanoseconds: 5_000_000_000) { [adapter = rig.adapter] in
      adapter.state != .running && adapter.state != .stopping
    }
    rig.runtime.shutdown()
  }

  /// Picks the next unit for `r` and submits it; false when this job has nothing more to do.
  private func issue(_ job: Job, _ r: StorRequest) -> Bool {
    let picked = job.state.withLock { pick(job, &$0, slotIndex: Int(r.tag)) }
    guard let slot = picked else { return false }
    submit(job, r, slot)
    return true
  }

  /// Picks the next unit for the request with tag `slotIndex` (under the job's lock) and
  /// records its slot; nil when this job has nothing more to do.
  private func pick(_ job: Job, _ s: inout JobState, slotIndex: Int) -> Slot? {
    var slot = Slot()
    slot.active = true
    if verifyOnly {
      guard let state else { return nil }
      while s.cursor < job.unitCount {
        let u = s.cursor
        s.cursor += 1
        let g = state[job.firstUnit + u]
        if VerifyState.isKnown(g) {
          slot.unit = u
          slot.generation = g
          break
        }
      }
      guard slot.generation != 0 else { return nil }
    } else {
      slot.isWrite = readPercent == 100 ? false : readPercent == 0 ? true : s.rng.below(100) >= readPercent
      var found = false
      for _ in 0..<16 {
        let candidate: UInt64
        if isRandom {
          candidate = s.rng.next() % job.unitCount
        } else {
          candidate = s.cursor % job.unitCount
          s.cursor &+= 1
        }
        if !s.busy(candidate) {
          slot.unit = candidate
          found = true
          break
        }
      }
      guard found else { return nil }
      if let state {
        let g = state[job.firstUnit + slot.unit]
        if slot.isWrite {
          slot.generation = VerifyState.next(after: g)
          state[job.firstUnit + slot.unit] = slot.generation
        } else {
          slot.generation = g
        }
      }
    }
    s.mark(slot.unit, true)
    s.slots[slotIndex] = slot
    job.slotsByTag[slotIndex] = slot
    return slot
  }

  /// Submits `r` for the unit of `slot`.
  private func submit(_ job: Job, _ r: StorRequest, _ slot: Slot) {
    // READ(16) / WRITE(16), written straight into the request's inline CDB.
    let lba = (job.firstUnit + slot.unit) * UInt64(blocksPerUnit)
    let n = UInt32(blocksPerUnit)
    r.cdbLength = 16
    withUnsafeMutableBytes(of: &r.cdbBytes) { c in
      c.storeBytes(of: UInt16(slot.isWrite ? 0x8A : 0x88), toByteOffset: 0, as: UInt16.self)
      c.storeBytes(of: lba.bigEndian, toByteOffset: 2, as: UInt64.self)
      c.storeBytes(of: n.bigEndian, toByteOffset: 10, as: UInt32.self)
      c.storeBytes(of: UInt16(0), toByteOffset: 14, as: UInt16.self)
    }
    r.direction = slot.isWrite ? .dataOut : .dataIn
    r.dataTransferLength = UInt32(unitBytes)
    r.dataBuffer = r.ownedBuffer?.baseAddress
    if slot.isWrite && state != nil {
      VerifyHeader.write(
        into: r.dataBuffer!, bytes: unitBytes, lba: lba, generation: slot.generation, seed: seed32)
    }
    rig.adapter.submit(r, completion: job.completion)
  }

  private func completed(_ job: Job, _ r: StorRequest) {
    let latency = rig.runtime.now &- r.submittedAt
    let slot = job.slotsByTag[Int(r.tag)]
    let ok = r.srbStatus == .success
    let lba = (job.firstUnit + slot.unit) * UInt64(blocksPerUnit)
    var finding: VerifyFinding? = nil
    var tolerated = false
    let checked = ok && !slot.isWrite && state != nil && VerifyState.isKnown(slot.generation)
    if checked {
      finding = VerifyHeader.check(r.dataBuffer!, bytes: unitBytes, lba: lba, generation: slot.generation)
      // A unit that a killed earlier run wrote after it saved its state: newer is expected.
      if finding?.kind == .newerGeneration && target.verifyStateInterrupted {
        finding = nil
        tolerated = true
      }
    }
    // One hold per I/O: this request's bookkeeping and, while issuing, its next unit.
    let next = job.state.withLock { s -> Slot? in
      s.mark(slot.unit, false)
      s.slots[Int(r.tag)].active = false
      if slot.isWrite {
        s.write.record(ok: ok, bytes: unitBytes, latency: latency)
      } else {
        s.read.record(ok: ok, bytes: unitBytes, latency: latency)
      }
      if checked { s.verifiedReads += 1 }
      if tolerated { s.newerThanRecorded += 1 }
      if finding != nil { s.verifyFailures += 1 }
      if !ok && slot.isWrite, let state {
        state[job.firstUnit + slot.unit] = VerifyState.unknown(after: slot.generation)
      }
      return issuing.load(ordering: .acquiring) ? pick(job, &s, slotIndex: Int(r.tag)) : nil
    }
    if let finding {
      failures.withLock { log in
        log.add(key: "verify \(lba) \(finding.kind)") {
          let first = lba * UInt64(target.logicalBlockSize)
          let location = target.path.map { " of \($0)" } ?? ""
          return "VERIFY FAILED at \(finding) [bytes \(first)…\(first + UInt64(unitBytes) - 1)\(location)]"
        }
      }
    }
    if !ok {
      let storeError = rig.store.takeLastError()
      failures.withLock { log in
        log.add(key: "io \(slot.isWrite) \(lba) \(r.srbStatus.rawValue) \(r.scsiStatus)") {
          var line =
            "I/O error: \(slot.isWrite ? "write" : "read") LBA \(lba) (\(blocksPerUnit) blocks): \(r.srbStatus), SCSI status \(r.scsiStatus)"
          if let sense = r.senseData { line += ", \(sense)" }
          if let storeError { line += "; \(storeError)" }
          return line
        }
      }
    }
    if let next {
      let tag = r.tag
      r.reset()
      r.tag = tag
      submit(job, r, next)
      return
    }
    finish(job, r)
  }

  private func finish(_ job: Job, _ r: StorRequest) {
    job.pool.give(r)
    outstanding.subtract(1, ordering: .acquiringAndReleasing)
  }

  /// Writes that never completed leave their units' contents unknown.
  private func forgetUnfinishedWrites() {
    guard let state else { return }
    for job in jobs {
      job.state.withLock { s in
        for slot in s.slots where slot.active && slot.isWrite {
          state[job.firstUnit + slot.unit] = VerifyState.unknown(after: slot.generation)
        }
      }
    }
  }

  private func snapshot(_ elapsed: UInt64) -> Progress {
    var r: UInt64 = 0
    var w: UInt64 = 0
    var rb: UInt64 = 0
    var wb: UInt64 = 0
    for j in jobs {
      j.state.withLock { s in
        r += s.read.ios
        w += s.write.ios
        rb += s.read.bytes
        wb += s.write.bytes
      }
    }
    return Progress(elapsedNanoseconds: elapsed, readIos: r, writeIos: w, readBytes: rb, writeBytes: wb)
  }

  /// NVMe miniport and device counters.
  public func counters() -> [(String, Int64)] {
    guard let device = rig.device else { return [] }
    guard options.miniportLibrary == nil else {
      // A C miniport's own state is its business; the device's counters are ours.
      var out: [(String, Int64)] = [("device commands", Int64(device.commands))]
      for (k, v) in device.injectedFaults.withLock({ $0 }).sorted(by: { $0.key < $1.key }) {
        out.append(("fault \(k)", Int64(v)))
      }
      return out
    }
    let ext = rig.adapter.deviceExtension(as: NvmeExtension.self)
    var out: [(String, Int64)] = [
      ("controller resets", ext.resets.load()), ("startups", ext.startupsCompleted.load()),
      ("requeued at reset", ext.requeuedForReset.load()), ("stale completions", ext.staleCompletions.load()),
      ("device commands", Int64(device.commands)),
    ]
    for (k, v) in device.injectedFaults.withLock({ $0 }).sorted(by: { $0.key < $1.key }) {
      out.append(("fault \(k)", Int64(v)))
    }
    return out
  }

  private func result(duration: UInt64, cpu: UInt64, interrupted: Int32?, stateSavedTo: String?)
    -> WorkloadResult
  {
    var read = Tally()
    var write = Tally()
    var verified: UInt64 = 0
    var badVerify: UInt64 = 0
    var newer: UInt64 = 0
    for j in jobs {
      j.state.withLock { s in
        read.add(s.read)
        write.add(s.write)
        verified += s.verifiedReads
        badVerify += s.verifyFailures
        newer += s.newerThanRecorded
      }
    }
    let log = failures.withLock { $0 }
    return WorkloadResult(
      options: options, target: target, durationNanoseconds: duration,
      read: read.figures, write: write.figures, verifiedReads: verified, verifyFailures: badVerify,
      newerThanRecorded: newer, cpuNanoseconds: cpu, failures: log.lines, failuresNotShown: log.dropped,
      verdict: rig.runtime.verifier.verdict, statistics: rig.adapter.statistics, counters: counters(),
      interruptedBySignal: interrupted, verifyStateSavedTo: stateSavedTo,
      processors: rig.runtime.platform.processorCount)
  }
}

extension Workload.Tally {
  mutating func record(ok: Bool, bytes: Int, latency: UInt64) {
    if ok {
      ios += 1
      self.bytes += UInt64(bytes)
      _ = histogram.record(max(1, latency))
    } else {
      errors += 1
    }
  }

  mutating func add(_ other: Workload.Tally) {
    ios += other.ios
    bytes += other.bytes
    errors += other.errors
    histogram.add(other.histogram)
  }

  var figures: DirectionFigures {
    DirectionFigures(
      ios: ios, bytes: bytes, errors: errors,
      latency: ios == 0
        ? .zero
        : LatencyFigures(
          p50: histogram.valueAtPercentile(50), p90: histogram.valueAtPercentile(90),
          p99: histogram.valueAtPercentile(99), p999: histogram.valueAtPercentile(99.9), min: histogram.min,
          max: histogram.max, mean: histogram.mean))
  }
}

/// The first failures of a run, kept in full, and a count of the rest. A line is built only
/// when it is kept; a failure seen again (same key) is counted on its first line.
struct FailureLog: Sendable {
  static let shown = 20
  private var kept: [String] = []
  private var repeats: [Int] = []
  private var keys: [String: Int] = [:]
  /// Failures beyond the first ``shown`` distinct ones.
  var dropped = 0

  mutating func add(key: String? = nil, _ line: () -> String) {
    if let key, let i = keys[key] {
      repeats[i] += 1
      return
    }
    guard kept.count < Self.shown else {
      dropped += 1
      return
    }
    if let key { keys[key] = kept.count }
    kept.append(line())
    repeats.append(1)
  }

  mutating func add(_ line: String) { add { line } }

  /// The kept lines, each with how often it was seen when more than once.
  var lines: [String] { zip(kept, repeats).map { $1 > 1 ? "\($0) (seen \($1) times)" : $0 } }
}
