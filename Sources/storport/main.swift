import ArgumentParser
import Storport
import StorportBenchmarks
import StorportSamples

#if canImport(Glibc)
  import Glibc
#endif

@main
struct StorportCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "storport",
    abstract: "The Windows Storport execution model (HW_TIMER, HW_DPC_ROUTINE, locks, IRQL) in user mode.",
    subcommands: [Run.self, Bench.self],
    defaultSubcommand: Run.self)
}

struct Run: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract:
      "Run the demonstration adapter and print callback counts, timer lateness, DPC latency and the verifier's verdict."
  )

  @Flag(help: "Use the deterministic simulated platform (virtual time).")
  var simulated = false
  @Option(help: "Seed of the simulated scheduler.")
  var seed: UInt64 = 1
  @Option(help: "Simulated processors (default: host cores live, 2 simulated).")
  var processors: Int?
  @Option(help: "Run time in milliseconds (default: 3000 live, 20 simulated — virtual).")
  var durationMs: UInt64?
  @Option(help: "Outstanding requests per processor.")
  var outstanding = 16
  @Option(help: "Concurrent StartIo channels (STOR_PERF_CONCURRENT_CHANNELS).")
  var channels = 2
  @Option(help: "Period of the demo's HwStorTimer in microseconds.")
  var timerUs: UInt32 = 1000
  @Flag(help: "Live idle processors poll instead of parking.")
  var poll = false
  @Option(help: "Write the event trace as JSON lines to this file.")
  var trace: String?
  @Flag(help: "Print the result as JSON.")
  var json = false

  func run() throws {
    var o = DemoRun.Options()
    o.simulated = simulated
    o.seed = seed
    o.processors = processors
    o.durationMilliseconds = durationMs ?? (simulated ? 20 : 3000)
    o.outstanding = outstanding
    o.channels = channels
    o.timerPeriodMicroseconds = timerUs
    o.trace = trace != nil
    if poll { o.idlePolicy = .poll }
    let result = DemoRun(o).run()
    if let path = trace, let lines = result.traceJSONLines {
      try writeFile(path, lines)
    }
    print(json ? result.json : result.text, terminator: json ? "\n" : "")
    if !result.violations.filter({ !$0.rule.isWarning }).isEmpty { throw ExitCode(1) }
  }
}

struct Bench: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Benchmarks (figures beside a baseline measured in the same run).",
    subcommands: [RuntimeBench.self])
}

struct RuntimeBench: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "runtime",
    abstract: "Timer lateness, DPC latency and throughput, spin-lock cost; build with -c release.")
  @Flag(help: "One JSON object per benchmark, one per line.")
  var json = false
  @Option(help: "Samples per latency benchmark.")
  var samples = 2000
  @Option(help: "Run only one group: timer, across, isr, lock or throughput.")
  var filter: String?

  func run() throws {
    let results = RuntimeBenchmarks(samples: samples).runAll(filter: filter) { line in
      if !json { print(line) }
    }
    if json {
      for r in results { print(r.json) }
    } else {
      print("")
      print(BenchmarkResult.table(results))
    }
  }
}

/// Writes `text` to `path` (no Foundation needed).
func writeFile(_ path: String, _ text: String) throws {
  guard let f = fopen(path, "w") else {
    throw ValidationError("cannot open \(path) for writing")
  }
  defer { fclose(f) }
  var t = text
  t.withUTF8 { buf in _ = fwrite(buf.baseAddress, 1, buf.count, f) }
}
