import ArgumentParser
import Storport
import StorportBenchmarks
import StorportWorkload

/// `storport bench runtime`: timer, DPC and lock figures beside same-run baselines.
struct BenchRuntimeCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "runtime",
    abstract:
      "Timer lateness, DPC latency and throughput, spin-lock cost, each with its goal; build with -c release."
  )
  @Option(parsing: .unconditional, help: "Samples per latency benchmark, 50…10000000 (default 2000).")
  var samples: String?
  @Option(parsing: .unconditional, help: "Run only one group: timer, across, isr, lock or throughput.")
  var filter: String?
  @OptionGroup var output: OutputOptions

  init() {}

  func values() throws(OptionError) -> (samples: Int, filter: String?, json: Bool) {
    let n =
      try samples.map { v throws(OptionError) in
        try OptionValue.integer(v, option: "--samples", in: RuntimeBenchmarks.sampleRange)
      } ?? 2000
    let f = try filter.map { v throws(OptionError) in
      try OptionValue.choice(v, option: "--filter", RuntimeBenchmarks.groups)
    }
    return (n, f, try output.isJSON())
  }

  mutating func validate() throws { try checked { _ = try values() } }

  func run() throws {
    let v = try checked { try values() }
    HostInfo.installStopSignals()
    let results = RuntimeBenchmarks(samples: v.samples).runAll(
      filter: v.filter, stop: { HostInfo.stopSignal != 0 }
    ) {
      line in
      if !v.json { Terminal.out(line + "\n") }
    }
    let signal = HostInfo.stopSignal
    if v.json {
      var options = JSONObject()
      options["samples"] = .int(v.samples)
      options["filter"] = .optional(v.filter.map { .string($0) })
      var j = JSONObject()
      j["storport_version"] = .string(StorportVersion.string)
      j["options"] = .object(options)
      j["interrupted_by"] = signal == 0 ? .null : .string(signal == 2 ? "SIGINT" : "SIGTERM")
      j["results"] = .array(results.map { .raw($0.json) })
      try Terminal.results(j.text + "\n")
    } else {
      var text = "\n" + BenchmarkResult.table(results)
      if signal != 0 { text += "interrupted by \(signal == 2 ? "SIGINT" : "SIGTERM"): partial results\n" }
      let missed = results.filter { $0.met == false }.map { $0.name }
      text +=
        missed.isEmpty
        ? "every goal met in this run\n" : "goals missed in this run: \(missed.joined(separator: "; "))\n"
      try Terminal.results(text)
    }
    if signal != 0 { throw CommandExit(128 + signal) }
  }
}
