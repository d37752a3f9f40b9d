import Storport

/// Latency of one direction's I/Os, submission to completion callback, in nanoseconds
/// (platform time: virtual when simulated), from an HdrHistogram with 3 significant digits.
public struct LatencyFigures: Sendable, Equatable {
  /// Percentiles: 50th, 90th, 99th, 99.9th.
  public let p50: UInt64
  public let p90: UInt64
  public let p99: UInt64
  public let p999: UInt64
  public let min: UInt64
  public let max: UInt64
  public let mean: Double
  public static let zero = LatencyFigures(p50: 0, p90: 0, p99: 0, p999: 0, min: 0, max: 0, mean: 0)

  /// fio's shape: `{"min":…,"max":…,"mean":…,"percentile":{"50.000000":…,…}}`.
  var json: JSONObject {
    var percentiles = JSONObject()
    percentiles["50.000000"] = .int(p50)
    percentiles["90.000000"] = .int(p90)
    percentiles["99.000000"] = .int(p99)
    percentiles["99.900000"] = .int(p999)
    var o = JSONObject()
    o["min"] = .int(min)
    o["max"] = .int(max)
    o["mean"] = .double((mean * 10).rounded() / 10)
    o["percentile"] = .object(percentiles)
    return o
  }
}

/// One direction's figures: counts are counts, rates are per second of the run.
public struct DirectionFigures: Sendable, Equatable {
  /// I/Os completed successfully.
  public let ios: UInt64
  /// Bytes those I/Os transferred.
  public let bytes: UInt64
  /// I/Os that completed with an error.
  public let errors: UInt64
  public let latency: LatencyFigures

  public func iops(seconds: Double) -> Double { seconds > 0 ? Double(ios) / seconds : 0 }
  public func bandwidth(seconds: Double) -> Double { seconds > 0 ? Double(bytes) / seconds : 0 }
}

/// The figures of one workload run.
public struct WorkloadResult: Sendable {
  public let options: WorkloadOptions
  public let target: WorkloadTarget
  /// Platform time the workload ran (virtual when simulated).
  public let durationNanoseconds: UInt64
  public let read: DirectionFigures
  public let write: DirectionFigures
  /// Reads whose unit was checked against its verify header.
  public let verifiedReads: UInt64
  public let verifyFailures: UInt64
  /// Units newer than the verify state of a killed earlier run records (accepted, counted).
  public let newerThanRecorded: UInt64
  /// Process CPU time during the run (all threads; live only meaningful).
  public let cpuNanoseconds: UInt64
  /// Errors, verify failures and problems, in order (the first ``FailureLog/shown``).
  public let failures: [String]
  public let failuresNotShown: Int
  public let verdict: String
  public let statistics: AdapterStatistics
  /// Miniport / device counters ("controller resets", faults injected, …).
  public let counters: [(String, Int64)]
  /// SIGINT (2) or SIGTERM (15) when the run was cut short: the figures are partial.
  public let interruptedBySignal: Int32?
  /// Where the verify state was written, if it was.
  public let verifyStateSavedTo: String?
  public let processors: Int
  /// Raw two-thread ring exchange at the same depth, measured in the same run (live only).
  public var baselineOpsPerSecond: Double?

  public var ios: UInt64 { read.ios + write.ios }
  public var errors: UInt64 { read.errors + write.errors }
  public var seconds: Double { Double(durationNanoseconds) / 1e9 }
  public var iops: Double { seconds > 0 ? Double(ios) / seconds : 0 }
  public var cpuNanosecondsPerIo: Double { ios > 0 ? Double(cpuNanoseconds) / Double(ios) : 0 }
  /// True when every I/O succeeded, every verified unit matched, nothing else went wrong and
  /// the verifier found no violation.
  public var passed: Bool {
    errors == 0 && verifyFailures == 0 && failures.isEmpty && !verdict.hasPrefix("FAIL")
  }

  static func signalName(_ s: Int32) -> String { s == 2 ? "SIGINT" : s == 15 ? "SIGTERM" : "signal \(s)" }

  var platformText: String {
    let o = options
    return o.simulated
      ? "simulated platform (seed \(o.seed)), \(processors) processors"
      : "live platform, \(processors) processors"
  }

  /// The human-readable report.
  public var text: String {
    let o = options
    let virtual = o.simulated ? " of virtual time" : ""
    var s = o.verifyOnly ? "verify_only" : o.pattern.rawValue
    s += ": bs=\(Format.bytes(UInt64(target.unitBytes)))"
    if !o.verifyOnly {
      s +=
        ", iodepth=\(o.iodepth), numjobs=\(o.jobs), runtime=\(Format.duration(o.runtimeNanoseconds))"
      if o.pattern.isMixed { s += ", rwmixread=\(o.effectiveReadPercent)" }
    }
    s +=
      "; miniport \(o.miniportName), \(platformText), \(o.verifier.isChecked ? "checked" : "unchecked")\n"
    s += "  target: \(target.description)\n"
    if let sig = interruptedBySignal {
      s +=
        "  interrupted by \(Self.signalName(sig)) after \(Format.elapsed(durationNanoseconds))\(virtual): partial results\n"
    }
    let shown = [("read ", read, o.verifyOnly || o.pattern.reads), ("write", write, o.writes)]
    for (name, d, expected) in shown where d.ios > 0 || d.errors > 0 || expected {
      s += "  \(name): IOPS=\(Format.short(d.iops(seconds: seconds)))"
      s += ", BW=\(Format.bytes(UInt64(d.bandwidth(seconds: seconds))))/s"
      s += "; \(Format.grouped(d.ios)) I/Os (\(Format.bytes(d.bytes)))"
      if d.errors > 0 { s += ", \(Format.grouped(d.errors)) errors" }
      s += " in \(Format.elapsed(durationNanoseconds))\(virtual)\n"
      if d.ios > 0 {
        let l = d.latency
        s +=
          "    lat (µs\(o.simulated ? ", virtual" : "")): p50=\(Format.micro(l.p50)), p90=\(Format.micro(l.p90)), p99=\(Format.micro(l.p99)), p99.9=\(Format.micro(l.p999)), max=\(Format.micro(l.max)), mean=\(Format.micro(UInt64(l.mean)))\n"
      }
    }
    if o.simulated {
      s += "  cpu  : not measured (simulated platform: one processor runs at a time)\n"
    } else {
      s +=
        "  cpu  : \(Format.micro(UInt64(cpuNanosecondsPerIo))) µs per I/O (process CPU \(Format.elapsed(cpuNanoseconds)) over \(Format.elapsed(durationNanoseconds)))\n"
    }
    if let b = baselineOpsPerSecond, b > 0 {
      s +=
        "  baseline: raw two-thread ring exchange at depth \(o.iodepth): \(Format.short(b)) ops/s; IOPS / baseline = \(Format.decimals(iops / b, 3))\n"
    }
    if o.verify != .off {
      s +=
        "  verify (\(o.verify.rawValue)): \(Format.grouped(verifiedReads)) units checked, \(Format.grouped(verifyFailures)) mismatches"
      if target.verifyStateLoaded, let p = target.verifyStatePath { s += "; state from \(p)" }
      if let p = verifyStateSavedTo { s += "; state saved to \(p)" }
      s += "\n"
      if target.verifyStateInterrupted {
        s +=
          "  !! the verify state is from a run that was killed before it ended: units newer than it records are accepted (\(Format.grouped(newerThanRecorded)) seen)\n"
      }
      if verifiedReads == 0 && read.ios > 0 {
        s += "  !! verification checked no unit: no read hit a unit with a known generation\n"
      }
    }
    s +=
      "  adapter: completed \(Format.grouped(statistics.completedRequests)) requests, spurious interrupts \(statistics.spuriousInterrupts)\n"
    if !counters.isEmpty {
      s += "  \(o.miniportName): " + counters.map { "\($0.0) \($0.1)" }.joined(separator: ", ") + "\n"
    }
    for f in failures { s += "  !! \(f)\n" }
    if failuresNotShown > 0 { s += "  !! … and \(failuresNotShown) more\n" }
    s += "  verifier: \(verdict)\n"
    s += passed ? "  result: PASS\n" : "  result: FAIL\n"
    return s
  }

  /// Every option used, by its command-line name.
  var optionsJSON: JSONObject {
    let o = options
    var j = JSONObject()
    j["rw"] = .string(o.pattern.rawValue)
    j["rwmixread"] = .int(o.effectiveReadPercent)
    j["bs"] = .int(target.unitBytes)
    j["iodepth"] = .int(o.iodepth)
    j["numjobs"] = .int(o.jobs)
    j["runtime_ns"] = .int(o.runtimeNanoseconds)
    j["size"] = .int(target.sizeBytes)
    j["logical_block_size"] = .int(target.logicalBlockSize)
    switch o.target {
    case .ram:
      j["backing"] = .string("ram")
    case .null:
      j["backing"] = .string("null")
    case .file(let path, let direct):
      j["backing"] = .string("file")
      j["filename"] = .string(path)
      j["direct"] = .int(direct ? 1 : 0)
    }
    j["readonly"] = .bool(o.readOnly)
    j["verify"] = .string(o.verify.rawValue)
    j["verify_only"] = .bool(o.verifyOnly)
    j["verify_state"] = .optional(target.verifyStatePath.map { .string($0) })
    j["seed"] = .int(o.seed)
    j["miniport"] = .string(o.miniportName)
    if o.miniport == .ramdisk { j["completion"] = .string(o.effectiveCompletion.rawValue) }
    j["simulated"] = .bool(o.simulated)
    j["processors"] = .int(processors)
    j["checked"] = .bool(o.verifier.isChecked)
    j["poll"] = .bool(o.idlePolicy == .poll)
    if o.miniport == .nvme {
      switch o.effectiveLatency {
      case .fixed(let ns):
        var l = JSONObject()
        l["model"] = .string("fixed")
        l["min_ns"] = .int(ns)
        l["max_ns"] = .int(ns)
        j["latency"] = .object(l)
      case .uniform(let lo, let hi):
        var l = JSONObject()
        l["model"] = .string("uniform")
        l["min_ns"] = .int(lo)
        l["max_ns"] = .int(hi)
        j["latency"] = .object(l)
      }
      var f = JSONObject()
      f["drop_completion_ppm"] = .int(o.faults.dropCompletionPpm)
      f["delay_interrupt_ppm"] = .int(o.faults.delayInterruptPpm)
      f["spurious_interrupt_ppm"] = .int(o.faults.spuriousInterruptPpm)
      f["stuck_command_ppm"] = .int(o.faults.stuckCommandPpm)
      f["fatal_ppm"] = .int(o.faults.fatalStatusPpm)
      f["slow_start_ns"] = .int(o.faults.slowStartNanoseconds)
      j["faults"] = .object(f)
      j["stuck_ms"] = .int(o.effectiveStuckTimeoutMilliseconds)
    }
    return j
  }

  func directionJSON(_ d: DirectionFigures) -> JSONObject {
    var j = JSONObject()
    j["total_ios"] = .int(d.ios)
    j["io_bytes"] = .int(d.bytes)
    j["errors"] = .int(d.errors)
    j["iops"] = .double((d.iops(seconds: seconds) * 10).rounded() / 10)
    j["bw_bytes"] = .int(UInt64(d.bandwidth(seconds: seconds)))
    j["runtime_ns"] = .int(durationNanoseconds)
    j["lat_ns"] = .object(d.latency.json)
    return j
  }

  /// The result as one JSON object: every option used, the target, per-direction figures,
  /// verification, counters, failures, the verdict. `time_base` says whether times are wall
  /// clock ("wall") or the simulated platform's ("virtual").
  public var json: String { json(extraOptions: JSONObject()) }

  /// The JSON result with the front end's own options (trace, progress) added to `options`.
  public func json(extraOptions: JSONObject) -> String {
    var j = JSONObject()
    j["storport_version"] = .string(StorportVersion.string)
    var used = optionsJSON
    used.merge(extraOptions)
    j["options"] = .object(used)
    var t = JSONObject()
    t["description"] = .string(target.description)
    t["size"] = .int(target.sizeBytes)
    t["logical_block_size"] = .int(target.logicalBlockSize)
    t["read_only"] = .bool(target.readOnly)
    t["created"] = .bool(target.creates)
    t["grown"] = .bool(target.grows)
    j["target"] = .object(t)
    j["time_base"] = .string(options.simulated ? "virtual" : "wall")
    j["duration_ns"] = .int(durationNanoseconds)
    j["interrupted_by"] = .optional(interruptedBySignal.map { .string(Self.signalName($0)) })
    j["read"] = .object(directionJSON(read))
    j["write"] = .object(directionJSON(write))
    j["cpu_ns_per_io"] = options.simulated ? .null : .int(UInt64(cpuNanosecondsPerIo))
    if let b = baselineOpsPerSecond {
      j["baseline_ops_per_s"] = .int(UInt64(b))
      j["iops_over_baseline"] = .double(iops / b)
    }
    var v = JSONObject()
    v["mode"] = .string(options.verify.rawValue)
    v["units_checked"] = .int(verifiedReads)
    v["mismatches"] = .int(verifyFailures)
    v["newer_than_recorded"] = .int(newerThanRecorded)
    v["state_saved_to"] = .optional(verifyStateSavedTo.map { .string($0) })
    j["verify"] = .object(v)
    var c = JSONObject()
    for (k, n) in counters { c[k] = .int(n) }
    j["counters"] = .object(c)
    j["completed_requests"] = .int(statistics.completedRequests)
    j["failures"] = .strings(failures)
    j["failures_not_shown"] = .int(failuresNotShown)
    j["verdict"] = .string(verdict)
    j["passed"] = .bool(passed)
    return j.text
  }
}
