import ArgumentParser
import StorportBenchmarks
import StorportWorkload

/// `storport bench runtime`: timer, DPC and lock figures beside same-run baselines.
struct BenchRuntimeCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "runtime",
    abstract:
      "Timer lateness, DPC latency and throughput, spin-lock cost, each with its goal; build with -c release."
  )
  @Option(help: "Samples per latency benchmark, 50…10000000 (default 2000).")
  var samples: String?
  @Option(help: "Run only one group: timer, across, isr, lock or throughput.")
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
    let results = RuntimeBenchmarks(samples: v.samples).runAll(filter: v.filter) { line in
      if !v.json { Terminal.out(line + "\n") }
    }
    if v.json {
      for r in results { Terminal.out(r.json + "\n") }
    } else {
      Terminal.out("\n" + BenchmarkResult.table(results))
      let missed = results.filter { $0.met == false }.map { $0.name }
      Terminal.out(
        missed.isEmpty
          ? "every goal met in this run\n" : "goals missed in this run: \(missed.joined(separator: "; "))\n")
    }
  }
}
