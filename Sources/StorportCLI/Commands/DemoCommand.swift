import ArgumentParser
import Storport
import StorportSamples
import StorportWorkload

/// `storport demo`: the runtime core's demonstration adapter.
struct DemoCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "demo",
    abstract:
      "The runtime core's demonstration adapter: a periodic HwStorTimer, MSI-X ISRs issuing DPCs, concurrent channels with an interlocked timer/StartIo hand-off."
  )

  @OptionGroup var platform: PlatformOptions
  @OptionGroup var time: RunTimeOptions
  @Option(parsing: .unconditional, help: "Outstanding requests per processor, 1…4096 (default 16).")
  var outstanding: String?
  @Option(
    parsing: .unconditional,
    help: "Concurrent StartIo channels (STOR_PERF_CONCURRENT_CHANNELS), 1…64 (default 2).")
  var channels: String?
  @Option(
    name: .customLong("timer-us"), parsing: .unconditional,
    help: "Period of the demo's HwStorTimer in µs, 1…60000000 (default 1000).")
  var timerUs: String?
  @OptionGroup var trace: TraceOptions
  @OptionGroup var output: OutputOptions

  init() {}

  func demoOptions() throws(OptionError) -> DemoRun.Options {
    let p = try platform.values()
    var o = DemoRun.Options()
    o.simulated = p.simulated
    o.seed = p.seed
    o.processors = p.processors
    o.idlePolicy = p.idlePolicy
    o.durationMilliseconds =
      try time.nanoseconds().map { max(1, $0 / 1_000_000) } ?? (p.simulated ? 20 : 3000)
    if let outstanding {
      o.outstanding = try OptionValue.integer(outstanding, option: "--outstanding", in: 1...4096)
    }
    if let channels { o.channels = try OptionValue.integer(channels, option: "--channels", in: 1...64) }
    if let timerUs {
      o.timerPeriodMicroseconds = try OptionValue.integer(
        timerUs, option: "--timer-us", in: UInt32(1)...60_000_000)
    }
    o.trace = try trace.values().mode
    _ = try output.isJSON()
    return o
  }

  mutating func validate() throws { try checked { _ = try demoOptions() } }

  func run() throws {
    let o = try checked { try demoOptions() }
    let json = try checked { try output.isJSON() }
    let traceValues = try checked { try trace.values() }
    let traceFile = try traceValues.open()
    HostInfo.installStopSignals()
    let result = DemoRun(o).run(stop: { HostInfo.stopSignal })
    try Terminal.results(json ? result.json + "\n" : result.text)
    let failed = !result.violations.filter({ !$0.rule.isWarning }).isEmpty
    try finishRun(
      passed: !failed, interrupted: result.interruptedBySignal, trace: traceFile, capture: result.trace,
      values: traceValues, json: json)
  }
}
