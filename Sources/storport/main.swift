import ArgumentParser
import Storport
import StorportBenchmarks
import StorportDevices
import StorportSamples
import StorportWorkload

#if canImport(Glibc)
  import Glibc
#endif

@main
struct StorportCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "storport",
    abstract: "The Windows Storport execution model (HW_TIMER, HW_DPC_ROUTINE, locks, IRQL) in user mode.",
    subcommands: [Run.self, Demo.self, Bench.self],
    defaultSubcommand: Run.self)
}

struct Run: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract:
      "The main job: the NVMe miniport on an emulated controller (RAM backing), a mixed verified workload in checked mode, then I/O figures, timer / DPC / lock statistics and the verifier's verdict."
  )

  @Flag(help: "Use the deterministic simulated platform (virtual time).")
  var simulated = false
  @Option(help: "Seed of the workload and of the simulated scheduler.")
  var seed: UInt64 = 1
  @Option(help: "Simulated processors (default: host cores live, 2 simulated).")
  var processors: Int?
  @Option(help: "Run time in milliseconds (default: 10000 live, 50 simulated — virtual).")
  var durationMs: UInt64?
  @Option(help: "Write the event trace as JSON lines to this file.")
  var trace: String?

  func run() throws {
    let main = MainRun(
      simulated: simulated, seed: seed, processors: processors, durationMilliseconds: durationMs,
      trace: trace != nil)
    let outcome: MainRun.Outcome
    do {
      outcome = try main.run { line in printError("\r" + line) }
    } catch { throw ValidationError("\(error)") }
    printError("\n")
    if let path = trace, let lines = outcome.traceJSONLines { try writeFile(path, lines) }
    print(outcome.text, terminator: "")
    if !outcome.passed { throw ExitCode(1) }
  }
}

struct Demo: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract:
      "The runtime core's demonstration adapter: a periodic HwStorTimer, MSI-X ISRs issuing DPCs, concurrent channels with an interlocked timer/StartIo hand-off."
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
    subcommands: [RuntimeBench.self, IoBench.self, MemoryBench.self])
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

struct IoBench: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "io",
    abstract: "A fio-like workload through the port, a miniport and a backing store.")

  @Option(help: "read | write | randread | randwrite | randrw | rw")
  var rw = "randrw"
  @Option(help: "Percent reads for mixed patterns.")
  var rwmixread = 50
  @Option(help: "Block size (4k, 64k, …).")
  var bs = "4k"
  @Option(help: "Outstanding requests per job.")
  var iodepth = 32
  @Option(help: "Independent jobs (each on its own slice of the disk).")
  var jobs = 1
  @Option(help: "Run time in seconds (virtual when --simulated).")
  var runtime: Double = 3
  @Option(help: "Bytes of the disk to use (default: all).")
  var size: String?
  @Option(help: "Disk capacity.")
  var disk = "256m"
  @Flag(help: "Write checksummed blocks and check every read; a mismatch fails the run.")
  var verify = false
  @Option(help: "Seed for the workload (and the simulated scheduler).")
  var seed: UInt64 = 1
  @Option(help: "nvme | ramdisk")
  var miniport = "ramdisk"
  @Option(help: "ram | null | file:PATH | direct:PATH (O_DIRECT)")
  var backing = "ram"
  @Option(help: "RAM-disk completion: startIo | dpc")
  var completion = "startIo"
  @Flag(help: "Use the deterministic simulated platform.")
  var simulated = false
  @Option(help: "Simulated processors.")
  var processors: Int?
  @Flag(help: "Turn the verifier off (unchecked mode).")
  var unchecked = false
  @Flag(help: "Live processors poll instead of parking.")
  var poll = false
  @Option(
    help:
      "NVMe fault to inject: drop-completion | delay-interrupt | spurious-interrupt | stuck-command | fatal | slow-start"
  )
  var fault: [String] = []
  @Option(help: "Fault rate in parts per million of commands (slow-start: µs of extra start-up).")
  var faultPpm: UInt32 = 10_000
  @Option(help: "NVMe device latency in microseconds (fixed), or MIN-MAX (uniform).")
  var latency = "0"
  @Option(help: "NVMe watchdog: milliseconds without progress before a queue counts as stuck.")
  var stuckMs: UInt64 = 50
  @Flag(help: "Print the result as JSON.")
  var json = false

  func run() throws {
    var o = WorkloadOptions()
    for name in fault {
      guard let f = NvmeFaults.only(name, ppm: faultPpm) else {
        throw ValidationError("unknown --fault \(name)")
      }
      o.faults.dropCompletionPpm += f.dropCompletionPpm
      o.faults.delayInterruptPpm += f.delayInterruptPpm
      o.faults.spuriousInterruptPpm += f.spuriousInterruptPpm
      o.faults.stuckCommandPpm += f.stuckCommandPpm
      o.faults.fatalStatusPpm += f.fatalStatusPpm
      o.faults.slowStartNanoseconds += f.slowStartNanoseconds
    }
    let bounds = latency.split(separator: "-").compactMap { UInt64($0) }
    if bounds.count == 2 {
      o.latency = .uniform(min: bounds[0] * 1000, max: bounds[1] * 1000)
    } else if let l = bounds.first {
      o.latency = .fixed(nanoseconds: l * 1000)
    }
    o.stuckTimeoutMilliseconds = stuckMs
    guard let p = WorkloadOptions.Pattern(rawValue: rw) else { throw ValidationError("unknown --rw \(rw)") }
    o.pattern = p
    o.readPercent = rwmixread
    guard let b = WorkloadOptions.parseSize(bs) else { throw ValidationError("bad --bs \(bs)") }
    o.blockSize = Int(b)
    o.iodepth = iodepth
    o.jobs = jobs
    o.runtimeMilliseconds = UInt64(runtime * 1000)
    if let size { o.sizeBytes = WorkloadOptions.parseSize(size) ?? 0 }
    guard let d = WorkloadOptions.parseSize(disk) else { throw ValidationError("bad --disk \(disk)") }
    o.diskBytes = d
    o.verify = verify
    o.seed = seed
    guard let m = WorkloadOptions.MiniportKind(rawValue: miniport) else {
      throw ValidationError("unknown --miniport \(miniport)")
    }
    o.miniport = m
    guard let back = WorkloadOptions.Backing(backing) else {
      throw ValidationError("unknown --backing \(backing)")
    }
    o.backing = back
    guard let c = RamDiskMiniport.CompletionMode(rawValue: completion) else {
      throw ValidationError("unknown --completion")
    }
    o.ramdiskCompletion = c
    o.simulated = simulated
    o.processors = processors
    o.verifier = unchecked ? .unchecked : .default
    if poll { o.idlePolicy = .poll }
    o.progress = !json
    let workload: Workload
    do { workload = try Workload(o) } catch { throw ValidationError("\(error)") }
    var result = workload.run { line in printError("\r" + line) }
    if !json { printError("\n") }
    if !simulated {
      result.baselineOpsPerSecond = RingBaseline.run(
        depth: iodepth, milliseconds: min(2000, o.runtimeMilliseconds))
    }
    workload.shutdown()
    print(json ? result.json : result.text, terminator: json ? "\n" : "")
    if !result.passed { throw ExitCode(1) }
  }
}

/// Writes to standard error (progress lines).
func printError(_ s: String) {
  var t = s
  t.withUTF8 { buf in _ = write(2, buf.baseAddress, buf.count) }
}

struct MemoryBench: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "memory", abstract: "Resident memory of a fully written RAM backing against its size.")
  @Option(help: "RAM disk size.")
  var disk = "256m"
  func run() throws {
    guard let n = WorkloadOptions.parseSize(disk) else { throw ValidationError("bad --disk") }
    print(try MemoryBenchmark(bytes: n).run(), terminator: "")
  }
}
