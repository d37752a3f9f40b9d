import CStorportShim
import Histogram
import Storport
import StorportSCSI
import StorportSamples
import Synchronization

/// A fio-like closed-loop workload against one adapter: `jobs` independent jobs, each keeping
/// `iodepth` requests outstanding over its own slice of the disk, from pooled requests (no
/// allocation per I/O). With `verify`, every write carries a block pattern that is a function of
/// (block, generation) and every read of a block this run wrote is checked; a mismatch fails the
/// run loudly. Two requests never touch the same block at once, so verification is exact.
public final class Workload: @unchecked Sendable {
  public let options: WorkloadOptions
  public let rig: WorkloadRig
  let blocksPerIo: Int
  let jobs: [Job]
  let running = Atomic<Bool>(false)
  let outstanding = Atomic<Int>(0)
  let failures = Locked<[String]>([])

  /// Generation value meaning "contents unknown" (a write failed): not verified.
  static let unknown = UInt32.max

  struct Slot {
    var io: UInt64 = 0
    var generation: UInt32 = 0
    var isWrite = false
  }

  struct JobState {
    var rng: SeededRandom
    var generations: [UInt32]
    var inFlight: [Bool]
    var cursor: UInt64 = 0
    var slots: [Slot]
    var histogram = Histogram<UInt64>(
      highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
    var reads: UInt64 = 0
    var writes: UInt64 = 0
    var bytes: UInt64 = 0
    var errors: UInt64 = 0
    var verifiedReads: UInt64 = 0
    var verifyFailures: UInt64 = 0
  }

  final class Job: @unchecked Sendable {
    let index: Int
    let firstIo: UInt64
    let ioCount: UInt64
    let pool: StorRequestPool
    let state: Locked<JobState>
    /// Completion handler, made once (no closure allocation per I/O).
    var completion: (@Sendable (StorRequest) -> Void)!
    init(index: Int, firstIo: UInt64, ioCount: UInt64, depth: Int, bytes: Int, seed: UInt64) {
      self.index = index
      self.firstIo = firstIo
      self.ioCount = ioCount
      pool = StorRequestPool(count: depth, bufferBytes: bytes)
      state = Locked(
        JobState(
          rng: SeededRandom(seed: seed &+ UInt64(index) &* 0x1000_0001),
          generations: [UInt32](repeating: 0, count: Int(ioCount)),
          inFlight: [Bool](repeating: false, count: Int(ioCount)),
          slots: [Slot](repeating: Slot(), count: depth)))
    }
  }

  public init(_ options: WorkloadOptions) throws {
    precondition(options.blockSize > 0 && options.iodepth > 0 && options.jobs > 0)
    self.options = options
    rig = try WorkloadRig(options)
    let luBlock = rig.store.blockSize
    guard options.blockSize % luBlock == 0 else {
      throw WorkloadError.invalid("--bs \(options.blockSize) is not a multiple of the \(luBlock)-byte block")
    }
    blocksPerIo = options.blockSize / luBlock
    let span =
      options.sizeBytes == 0 ? rig.store.capacityBytes : min(options.sizeBytes, rig.store.capacityBytes)
    let ios = span / UInt64(options.blockSize)
    let perJob = ios / UInt64(options.jobs)
    guard perJob >= UInt64(options.iodepth) else {
      throw WorkloadError.invalid(
        "--size too small: each job needs at least iodepth (\(options.iodepth)) blocks")
    }
    if options.verify && !rig.store.holdsData {
      throw WorkloadError.invalid("--verify needs a backing that stores data (ram or file), not null")
    }
    jobs = (0..<options.jobs).map {
      Job(
        index: $0, firstIo: UInt64($0) * perJob, ioCount: perJob, depth: options.iodepth,
        bytes: options.blockSize, seed: options.seed)
    }
    for job in jobs { job.completion = { [unowned self, unowned job] r in completed(job, r) } }
  }

  /// Runs for `runtimeMilliseconds` (virtual on the simulated platform) and returns the figures.
  public func run(progress: ((String) -> Void)? = nil) -> WorkloadResult {
    let runtime = rig.runtime
    guard rig.adapter.state == .running else {
      return result(duration: 0, cpu: 0, note: "adapter did not start (\(rig.adapter.state))")
    }
    running.store(true, ordering: .releasing)
    let start = runtime.now
    let cpu0 = storport_process_cpu_ns()
    for job in jobs {
      for _ in 0..<options.iodepth {
        let r = job.pool.take()!
        outstanding.add(1, ordering: .relaxed)
        issue(job, r)
      }
    }
    let total = options.runtimeMilliseconds * 1_000_000
    var elapsed: UInt64 = 0
    while elapsed < total {
      runtime.run(forNanoseconds: min(1_000_000_000, total - elapsed))
      elapsed = runtime.now - start
      if options.progress, let progress { progress(progressLine(elapsed)) }
    }
    running.store(false, ordering: .releasing)
    let duration = runtime.now - start
    let cpu = storport_process_cpu_ns() - cpu0
    runtime.runUntil(timeoutNanoseconds: options.simulated ? 2_000_000_000 : 30_000_000_000) { [self] in
      outstanding.load(ordering: .acquiring) == 0
    }
    let stuck = outstanding.load(ordering: .acquiring)
    if stuck > 0 {
      var why =
        "adapter \(rig.adapter.state), paused \(rig.adapter.isPaused), queued \(rig.adapter.statistics.queuedRequests)"
      if rig.device != nil {
        why += ", miniport state \(rig.adapter.deviceExtension(as: NvmeExtension.self).stateDescription)"
      }
      failures.withLock { $0.append("\(stuck) request(s) never completed (\(why))") }
    }
    return result(duration: duration, cpu: cpu, note: nil)
  }

  /// Stops the runtime (call once done with the rig).
  public func shutdown() {
    rig.adapter.stop()
    rig.runtime.runUntil(timeoutNanoseconds: 5_000_000_000) { [adapter = rig.adapter] in
      adapter.state != .running && adapter.state != .stopping
    }
    rig.runtime.shutdown()
  }

  private func issue(_ job: Job, _ r: StorRequest) {
    let o = options
    let slotIndex = Int(r.tag)
    let picked = job.state.withLock { s -> Slot? in
      let isRead: Bool
      switch o.pattern {
      case .read, .randread: isRead = true
      case .write, .randwrite: isRead = false
      case .randrw, .rw: isRead = s.rng.below(100) < o.readPercent
      }
      var io: UInt64?
      for _ in 0..<16 {
        let candidate: UInt64
        if o.pattern.isRandom {
          candidate = s.rng.next() % job.ioCount
        } else {
          candidate = s.cursor % job.ioCount
          s.cursor &+= 1
        }
        if !s.inFlight[Int(candidate)] {
          io = candidate
          break
        }
      }
      guard let io else { return nil }
      s.inFlight[Int(io)] = true
      var slot = Slot(io: io, generation: s.generations[Int(io)], isWrite: !isRead)
      if !isRead {
        var g = slot.generation &+ 1
        if g == 0 || g == Workload.unknown { g = 1 }
        slot.generation = g
        s.generations[Int(io)] = g
      }
      s.slots[slotIndex] = slot
      return slot
    }
    guard let slot = picked else {
      // Every candidate was busy (tiny region): give the request back.
      finish(job, r)
      return
    }
    // READ(16) / WRITE(16), written straight into the request's inline CDB.
    let lba = (job.firstIo + slot.io) * UInt64(blocksPerIo)
    let n = UInt32(blocksPerIo)
    r.cdbLength = 16
    withUnsafeMutableBytes(of: &r.cdbBytes) { c in
      c.storeBytes(of: UInt16(slot.isWrite ? 0x8A : 0x88), toByteOffset: 0, as: UInt16.self)
      c.storeBytes(of: lba.bigEndian, toByteOffset: 2, as: UInt64.self)
      c.storeBytes(of: n.bigEndian, toByteOffset: 10, as: UInt32.self)
      c.storeBytes(of: UInt16(0), toByteOffset: 14, as: UInt16.self)
    }
    r.direction = slot.isWrite ? .dataOut : .dataIn
    r.dataTransferLength = UInt32(o.blockSize)
    r.dataBuffer = r.ownedBuffer?.baseAddress
    if slot.isWrite && o.verify {
      VerifyPattern.fill(
        r.dataBuffer!, bytes: o.blockSize, index: job.firstIo + slot.io, generation: slot.generation)
    }
    rig.adapter.submit(r, completion: job.completion)
  }

  private func completed(_ job: Job, _ r: StorRequest) {
    let latency = rig.runtime.now &- r.submittedAt
    let slot = job.state.withLock { $0.slots[Int(r.tag)] }
    let ok = r.srbStatus == .success
    var mismatch: Int?
    var checked = false
    if ok && !slot.isWrite && options.verify && slot.generation != 0 && slot.generation != Workload.unknown {
      checked = true
      mismatch = VerifyPattern.firstMismatch(
        r.dataBuffer!, bytes: options.blockSize, index: job.firstIo + slot.io, generation: slot.generation)
    }
    job.state.withLock { s in
      _ = s.histogram.record(max(1, latency))
      s.inFlight[Int(slot.io)] = false
      if ok {
        if slot.isWrite { s.writes += 1 } else { s.reads += 1 }
        s.bytes += UInt64(options.blockSize)
        if checked { s.verifiedReads += 1 }
        if mismatch != nil { s.verifyFailures += 1 }
      } else {
        s.errors += 1
        if slot.isWrite { s.generations[Int(slot.io)] = Workload.unknown }
      }
    }
    if let m = mismatch {
      failures.withLock {
        $0.append(
          "VERIFY FAILED: job \(job.index) block \(job.firstIo + slot.io) generation \(slot.generation): first bad byte at \(m)"
        )
      }
    }
    if !ok {
      failures.withLock {
        if $0.count < 20 {
          $0.append(
            "I/O error: \(slot.isWrite ? "write" : "read") block \(job.firstIo + slot.io): \(r.srbStatus), SCSI status \(r.scsiStatus)\(r.senseData.map { ", \($0)" } ?? "")"
          )
        }
      }
    }
    if running.load(ordering: .acquiring) {
      let tag = r.tag
      r.reset()
      r.tag = tag
      issue(job, r)
    } else {
      finish(job, r)
    }
  }

  private func finish(_ job: Job, _ r: StorRequest) {
    job.pool.give(r)
    outstanding.subtract(1, ordering: .acquiringAndReleasing)
  }

  /// NVMe miniport and device counters.
  public func counters() -> [(String, Int64)] {
    guard let device = rig.device else { return [] }
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

  private func progressLine(_ elapsed: UInt64) -> String {
    let done = jobs.reduce(UInt64(0)) { acc, j in acc + j.state.withLock { $0.reads + $0.writes } }
    let secs = Double(elapsed) / 1e9
    return
      "[\(Int(secs * 10) / 10).\(Int(secs * 10) % 10)s] \(done) I/Os, \(secs > 0 ? Int(Double(done) / secs) : 0) IOPS"
  }

  private func result(duration: UInt64, cpu: UInt64, note: String?) -> WorkloadResult {
    var hist = Histogram<UInt64>(
      highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
    var reads: UInt64 = 0
    var writes: UInt64 = 0
    var bytes: UInt64 = 0
    var errors: UInt64 = 0
    var verified: UInt64 = 0
    var badVerify: UInt64 = 0
    for j in jobs {
      j.state.withLock { s in
        hist.add(s.histogram)
        reads += s.reads
        writes += s.writes
        bytes += s.bytes
        errors += s.errors
        verified += s.verifiedReads
        badVerify += s.verifyFailures
      }
    }
    var failureList = failures.withLock { $0 }
    if let note { failureList.insert(note, at: 0) }
    return WorkloadResult(
      options: options, durationNanoseconds: duration, reads: reads, writes: writes, bytes: bytes,
      errors: errors, verifiedReads: verified, verifyFailures: badVerify, cpuNanoseconds: cpu,
      p50: hist.valueAtPercentile(50), p90: hist.valueAtPercentile(90), p99: hist.valueAtPercentile(99),
      p999: hist.valueAtPercentile(99.9), max: hist.max, failures: failureList,
      verdict: rig.runtime.verifier.verdict, statistics: rig.adapter.statistics, counters: counters())
  }
}

public enum WorkloadError: Error, CustomStringConvertible {
  case invalid(String)
  public var description: String {
    switch self {
    case .invalid(let s): return s
    }
  }
}
