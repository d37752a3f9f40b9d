import Storport

/// The figures of one workload run.
public struct WorkloadResult: Sendable {
  public let options: WorkloadOptions
  public let durationNanoseconds: UInt64
  public let reads: UInt64
  public let writes: UInt64
  public let bytes: UInt64
  public let errors: UInt64
  public let verifiedReads: UInt64
  public let verifyFailures: UInt64
  /// Process CPU time during the run (all threads).
  public let cpuNanoseconds: UInt64
  public let p50: UInt64
  public let p90: UInt64
  public let p99: UInt64
  public let p999: UInt64
  public let max: UInt64
  /// Errors, verify failures and problems, loudest first.
  public let failures: [String]
  public let verdict: String
  public let statistics: StorPort.Statistics
  /// Miniport / device counters ("resets", "requeued", faults injected, …).
  public let counters: [(String, Int64)]
  /// Raw two-thread ring exchange at the same depth, measured in the same run (live only).
  public var baselineOpsPerSecond: Double?

  public var ios: UInt64 { reads + writes }
  public var seconds: Double { Double(durationNanoseconds) / 1e9 }
  public var iops: Double { seconds > 0 ? Double(ios) / seconds : 0 }
  public var bandwidthBytesPerSecond: Double { seconds > 0 ? Double(bytes) / seconds : 0 }
  public var cpuNanosecondsPerIo: Double { ios > 0 ? Double(cpuNanoseconds) / Double(ios) : 0 }
  /// True when every I/O succeeded and every verified read matched.
  public var passed: Bool { errors == 0 && verifyFailures == 0 && failures.isEmpty }

  static func us(_ ns: UInt64) -> String {
    let t = (ns + 50) / 100
    return "\(t / 10).\(t % 10)"
  }

  public var text: String {
    let o = options
    var s =
      "\(o.pattern.rawValue) bs=\(o.blockSize) iodepth=\(o.iodepth) jobs=\(o.jobs) miniport=\(o.miniport.rawValue)"
    s += " platform=\(o.simulated ? "simulated(seed \(o.seed))" : "live")\(o.verify ? " verify" : "")\n"
    s +=
      "  IOPS \(Int(iops)) (read \(reads), write \(writes)), bandwidth \(Int(bandwidthBytesPerSecond / 1_048_576)) MiB/s, "
    s += "\(Int(seconds * 1000)) ms\n"
    if !o.simulated { s += "  CPU \(Int(cpuNanosecondsPerIo)) ns per I/O\n" }
    if let b = baselineOpsPerSecond, b > 0 {
      s +=
        "  baseline (raw two-thread ring exchange, depth \(o.iodepth)): \(Int(b)) ops/s; ratio \(Int(iops / b * 1000)) / 1000\n"
    }
    s +=
      "  latency µs: p50 \(Self.us(p50)) p90 \(Self.us(p90)) p99 \(Self.us(p99)) p99.9 \(Self.us(p999)) max \(Self.us(max))\n"
    if o.verify { s += "  verified reads \(verifiedReads), mismatches \(verifyFailures)\n" }
    s +=
      "  errors \(errors); adapter: completed \(statistics.completedRequests), spurious interrupts \(statistics.spuriousInterrupts)\n"
    if !counters.isEmpty { s += "  " + counters.map { "\($0.0) \($0.1)" }.joined(separator: ", ") + "\n" }
    for f in failures { s += "  !! \(f)\n" }
    s += "  verifier: \(verdict)\n"
    s += passed ? "  result: PASS\n" : "  result: FAIL\n"
    return s
  }

  public var json: String {
    var s =
      "{\"pattern\":\"\(options.pattern.rawValue)\",\"bs\":\(options.blockSize),\"iodepth\":\(options.iodepth)"
    s +=
      ",\"jobs\":\(options.jobs),\"miniport\":\"\(options.miniport.rawValue)\",\"simulated\":\(options.simulated)"
    s +=
      ",\"duration_ns\":\(durationNanoseconds),\"reads\":\(reads),\"writes\":\(writes),\"iops\":\(Int(iops))"
    s +=
      ",\"bandwidth_bytes_per_s\":\(Int(bandwidthBytesPerSecond)),\"cpu_ns_per_io\":\(Int(cpuNanosecondsPerIo))"
    s += ",\"latency_ns\":{\"p50\":\(p50),\"p90\":\(p90),\"p99\":\(p99),\"p99_9\":\(p999),\"max\":\(max)}"
    s += ",\"errors\":\(errors),\"verified_reads\":\(verifiedReads),\"verify_failures\":\(verifyFailures)"
    s +=
      ",\"failures\":[\(failures.map(JSON.quote).joined(separator: ","))],\"verdict\":\(JSON.quote(verdict))"
    if let b = baselineOpsPerSecond { s += ",\"baseline_ops_per_s\":\(Int(b)),\"ratio\":\(iops / b)" }
    s += ",\"counters\":{\(counters.map { "\(JSON.quote($0.0)):\($0.1)" }.joined(separator: ","))}"
    s += ",\"passed\":\(passed)}"
    return s
  }
}
