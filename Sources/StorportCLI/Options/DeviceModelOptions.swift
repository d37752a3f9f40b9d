import ArgumentParser
import StorportDevices
import StorportWorkload

/// The NVMe device model's faults, latency and watchdog (`bench io` and `serve`): what the
/// emulated controller does besides answering, so a miniport meets the failures it must handle.
struct DeviceModelOptions: ParsableArguments {
  @Option(
    parsing: .unconditionalSingleValue,
    help:
      "NVMe fault to inject (repeatable): drop-completion | delay-interrupt | spurious-interrupt | stuck-command | fatal | slow-start."
  )
  var fault: [String] = []
  @Option(
    name: .customLong("fault-ppm"), parsing: .unconditional,
    help: "Rate of the --fault faults per command, 1…1000000 ppm (default 10000).")
  var faultPpm: String?
  @Option(
    name: .customLong("slow-start-ms"), parsing: .unconditional,
    help: "Extra NVMe start-up time of --fault slow-start, 1…60000 ms (default 20).")
  var slowStartMs: String?
  @Option(
    parsing: .unconditional,
    help:
      "NVMe I/O command latency in µs: N (fixed) or MIN-MAX (uniform), at most 10000000 (admin commands take none)."
  )
  var latency: String?
  @Option(
    name: .customLong("stuck-ms"), parsing: .unconditional,
    help: "NVMe watchdog: ms without progress before a queue is stuck, 1…60000 (default 50).")
  var stuckMs: String?

  init() {}

  /// Sets `o`'s faults, latency and watchdog from the options (each checked, quoted as typed).
  func apply(to o: inout WorkloadOptions) throws(OptionError) {
    typealias W = WorkloadOptions
    let ppm = try faultPpm.map { v throws(OptionError) in
      try OptionValue.integer(v, option: "--fault-ppm", in: W.faultPpmRange)
    }
    let slowStart = try slowStartMs.map { v throws(OptionError) in
      try OptionValue.integer(v, option: "--slow-start-ms", in: W.slowStartRange)
    }
    if let twice = fault.first(where: { f in fault.filter { $0 == f }.count > 1 }) {
      throw OptionError("--fault", twice, "given more than once")
    }
    for name in fault {
      guard NvmeFaults.names.contains(name) else {
        throw OptionError("--fault", name, "one of \(NvmeFaults.names.joined(separator: ", "))")
      }
      let one =
        name == "slow-start"
        ? NvmeFaults.only(name, ppm: UInt32((slowStart ?? 20) * 1000))!
        : NvmeFaults.only(name, ppm: ppm ?? 10_000)!
      o.faults = o.faults.merging(one)
    }
    if let faultPpm, !fault.contains(where: { $0 != "slow-start" }) {
      throw OptionError("--fault-ppm", faultPpm, "applies only with a --fault other than slow-start")
    }
    if let slowStartMs, !fault.contains("slow-start") {
      throw OptionError("--slow-start-ms", slowStartMs, "applies only with --fault slow-start")
    }
    if let latency { o.latency = try Self.latency(latency) }
    if let stuckMs {
      o.stuckTimeoutMilliseconds = try OptionValue.integer(
        stuckMs, option: "--stuck-ms", in: W.stuckTimeoutRange)
    }
  }

  /// `N` (fixed) or `MIN-MAX` (uniform), in microseconds.
  static func latency(_ text: String) throws(OptionError) -> LatencyModel {
    let bound = WorkloadOptions.latencyMaximumMicroseconds
    let accepted = "microseconds: N (fixed) or MIN-MAX with MIN ≤ MAX (uniform), each 0…\(bound)"
    let parts = text.split(separator: "-", omittingEmptySubsequences: false)
    guard parts.count == 1 || parts.count == 2 else { throw OptionError("--latency", text, accepted) }
    var values: [UInt64] = []
    for part in parts {
      guard let v = UInt64(part), v <= bound else { throw OptionError("--latency", text, accepted) }
      values.append(v * 1000)
    }
    if values.count == 1 { return .fixed(nanoseconds: values[0]) }
    guard values[0] <= values[1] else { throw OptionError("--latency", text, accepted) }
    return .uniform(min: values[0], max: values[1])
  }
}
