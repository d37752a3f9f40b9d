import ArgumentParser
import CStorportShim
import Storport
import StorportDevices
import StorportSamples
import StorportWorkload

/// `storport bench io`: a fio-like workload through the port, a miniport and a target.
struct BenchIoCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "io",
    abstract: "A fio-like workload through the port, a miniport and a backing store.",
    discussion: """
      Options take fio's names and syntax: sizes with k/m/g/t suffixes (binary), times with \
      us/ms/s/m/h. Every value is checked before anything starts; a bad one ends the command \
      with status 2 and a line naming it. With --filename the disk is the file's own size \
      unless --size asks for more (the file is then grown, never shrunk); a workload that only \
      reads opens the file read-only. --verify crc32c writes a checked header into every unit \
      and keeps a verify state beside the file (<file>.verify-state), so a later \
      --verify_only run checks every unit written before.
      """)

  @Option(
    parsing: .unconditional,
    help: "read | write | randread | randwrite | randrw | readwrite (rw). Default randrw.")
  var rw: String?
  @Option(parsing: .unconditional, help: "Percent of reads for randrw / readwrite (0…100, default 50).")
  var rwmixread: String?
  @Option(parsing: .unconditional, help: "Bytes per I/O: a multiple of the logical block size (default 4k).")
  var bs: String?
  @Option(parsing: .unconditional, help: "Outstanding I/Os per job, 1…4096 (default 32).")
  var iodepth: String?
  @Option(
    name: [.customLong("numjobs"), .customLong("jobs")], parsing: .unconditional,
    help: "Independent jobs, 1…256 (default 1).")
  var numjobs: String?
  @Option(
    parsing: .unconditional, help: "Run time, e.g. 3, 500ms, 1m (default 3 s; virtual with --simulated).")
  var runtime: String?
  @Option(
    parsing: .unconditional,
    help: "Size of the target and of the region used (default: the file's size, or 256m).")
  var size: String?
  @Option(
    parsing: .unconditional, help: "A file or block device to use as the disk (created only with --size).")
  var filename: String?
  @Option(parsing: .unconditional, help: "1: open --filename with O_DIRECT; 0 (default): buffered.")
  var direct: String?
  @Flag(help: "Refuse every write; the target is opened read-only.")
  var readonly = false
  @Option(
    parsing: .unconditional,
    help: "ram (default) | null; file:PATH and direct:PATH are aliases of --filename [--direct 1].")
  var backing: String?
  @Option(
    name: .customLong("logical-block-size"), parsing: .unconditional,
    help: "Logical block size of the emulated disk: 512 or 4096 (default).")
  var logicalBlockSize: String?
  @Option(
    parsing: .unconditional,
    help: "crc32c: write verify headers and check every read of a written unit; 0 (default): off.")
  var verify: String?
  @Flag(
    name: .customLong("verify_only"),
    help: "Issue no workload: read back and check every unit an earlier --verify run wrote.")
  var verifyOnly = false
  @Option(
    name: .customLong("verify_state"), parsing: .unconditional,
    help: "The verify state file (default <filename>.verify-state).")
  var verifyState: String?
  @Option(
    parsing: .unconditional,
    help: "nvme | ramdisk (default) | PATH.so (a C miniport built against storport --include-dir).")
  var miniport: String?
  @Option(
    name: .customLong("miniport-args"), parsing: .unconditional,
    help: "More of the C miniport's ArgumentString (\"Key=Value;…\"), after the DiskSize and BlockSize given."
  )
  var miniportArgs: String?
  @Option(parsing: .unconditional, help: "RAM-disk miniport completion: startIo (default) | dpc.")
  var completion: String?
  @Flag(help: "Turn the verifier off (unchecked mode).")
  var unchecked = false
  @OptionGroup var device: DeviceModelOptions
  @OptionGroup var platform: PlatformOptions
  @OptionGroup var trace: TraceOptions
  @OptionGroup var output: OutputOptions
  @OptionGroup var progress: ProgressOptions

  init() {}

  mutating func validate() throws { try checked { _ = try workloadOptions() } }

  /// Every option parsed (the syntax, and ranges quoted in the user's own words) and
  /// combined; ``WorkloadOptions/validate()`` then checks the combinations.
  func workloadOptions() throws(OptionError) -> WorkloadOptions {
    typealias W = WorkloadOptions
    var o = W()
    let p = try platform.values()
    o.simulated = p.simulated
    o.seed = p.seed
    o.processors = p.processors
    o.idlePolicy = p.idlePolicy
    if let rw {
      guard let pattern = W.Pattern(fio: rw) else {
        throw OptionError("--rw", rw, "one of \(W.Pattern.spellings.joined(separator: ", "))")
      }
      o.pattern = pattern
    }
    // Syntax only here; WorkloadOptions.validate() checks ranges (quoted as typed).
    let any = Int.min...Int.max
    if let rwmixread { o.readPercent = try OptionValue.integer(rwmixread, option: "--rwmixread", in: any) }
    if let lbs = logicalBlockSize {
      o.logicalBlockSize = try OptionValue.integer(lbs, option: "--logical-block-size", in: any)
    }
    if let bs { o.blockSize = Int(clamping: try OptionValue.size(bs, option: "--bs")) }
    if let iodepth { o.iodepth = try OptionValue.integer(iodepth, option: "--iodepth", in: any) }
    if let numjobs { o.jobs = try OptionValue.integer(numjobs, option: "--numjobs", in: any) }
    if let runtime {
      o.runtimeNanoseconds = try OptionValue.duration(runtime, option: "--runtime", in: 0...UInt64.max)
    }
    if let size { o.sizeBytes = try OptionValue.size(size, option: "--size") }

    // Target: --filename [--direct 1], or --backing ram|null (file:/direct: as aliases).
    var path = filename
    var isDirect = try direct.map { d throws(OptionError) in
      try OptionValue.choice(d, option: "--direct", ["0", "1"]) == "1"
    }
    if let backing {
      switch backing {
      case "ram", "null":
        if filename != nil { throw OptionError("--backing", backing, "contradicts --filename") }
        o.target = backing == "ram" ? .ram : .null
      case _ where backing.hasPrefix("file:") || backing.hasPrefix("direct:"):
        if filename != nil {
          throw OptionError("--backing", backing, "names a file and so does --filename: give one")
        }
        let directAlias = backing.hasPrefix("direct:")
        path = String(backing.dropFirst(directAlias ? 7 : 5))
        if directAlias {
          if isDirect == false { throw OptionError("--direct", "0", "contradicts --backing direct:PATH") }
          isDirect = true
        }
      default:
        throw OptionError(
          "--backing", backing, "ram, null, file:PATH or direct:PATH (or use --filename PATH)")
      }
    }
    if let path {
      o.target = .file(path: path, direct: isDirect ?? false)
    } else if isDirect == true {
      throw OptionError("--direct", "1", "applies only to a file target (--filename)")
    }
    o.readOnly = readonly

    if let verify {
      switch verify {
      case "crc32c", "crc32c-intel": o.verify = .crc32c
      case "0", "none": o.verify = .off
      default: throw OptionError("--verify", verify, "crc32c (or crc32c-intel), or 0 / none to turn it off")
      }
    }
    if verifyOnly {
      for (name, given) in [("--rw", rw), ("--rwmixread", rwmixread), ("--bs", bs), ("--runtime", runtime)] {
        if let given {
          throw OptionError(
            name, given,
            "does not apply with --verify_only (it reads every unit once, at the earlier run's --bs)")
        }
      }
      if let verify, o.verify == .off { throw OptionError("--verify", verify, "contradicts --verify_only") }
      o.verify = .crc32c
      o.verifyOnly = true
    }
    o.verifyStatePath = verifyState

    if let miniport {
      if let m = W.MiniportKind(rawValue: miniport) {
        o.miniport = m
      } else if let path = try MiniportPath.resolve(miniport) {
        o.miniportLibrary = path
      } else {
        throw OptionError(
          "--miniport", miniport,
          "one of \(W.MiniportKind.allCases.map(\.rawValue).joined(separator: ", ")), or the path of a C miniport's .so"
        )
      }
    }
    o.miniportArguments = miniportArgs
    if let completion {
      guard let c = RamDiskMiniport.CompletionMode(rawValue: completion) else {
        throw OptionError("--completion", completion, "startIo or dpc")
      }
      o.ramdiskCompletion = c
    }
    o.verifier = unchecked ? .unchecked : .default

    try device.apply(to: &o)

    o.trace = try trace.values().mode
    _ = try output.isJSON()
    do { try o.validate() } catch { throw asTyped(error) }
    return o
  }

  /// The option text as the user typed it, for messages about values found out of range
  /// after parsing (so `--size 4k` is quoted as '4k', not '4096').
  var typed: [String: String] {
    var t: [String: String] = [:]
    for (name, value) in [
      ("--rwmixread", rwmixread), ("--logical-block-size", logicalBlockSize), ("--bs", bs),
      ("--iodepth", iodepth),
      ("--numjobs", numjobs), ("--runtime", runtime), ("--size", size), ("--stuck-ms", device.stuckMs),
      ("--processors", platform.processors),
    ] {
      if let value { t[name] = value }
    }
    return t
  }

  /// `error` quoting the value as typed.
  func asTyped(_ error: OptionError) -> OptionError { error.quoting(typed) }

  func run() throws {
    let o = try checked { try workloadOptions() }
    let json = try checked { try output.isJSON() }
    let traceValues = try checked { try trace.values() }
    let resolved: (WorkloadTarget, VerifyState?)
    do throws(WorkloadError) { resolved = try WorkloadTarget.resolve(o) } catch { throw commandExit(error) }
    try traceValues.checkDistinct(from: [
      ("target", resolved.0.path), ("verify state", resolved.0.verifyStatePath),
    ])
    let traceFile = try traceValues.open()
    let workload: Workload
    do throws(WorkloadError) { workload = try Workload(o, resolved: resolved) } catch {
      throw commandExit(error)
    }
    HostInfo.installStopSignals()
    let reporter = try progress.reporter(isVirtual: o.simulated)
    var result = workload.run(
      progressEvery: reporter.interval, progress: json ? nil : reporter.report,
      stop: .signals)
    reporter.finish()
    if !o.simulated && result.interruptedBySignal == nil && !o.verifyOnly {
      result.baselineOpsPerSecond = RingBaseline.run(
        depth: o.iodepth, milliseconds: min(2000, o.runtimeNanoseconds / 1_000_000))
    }
    let capture = traceFile != nil ? workload.rig.runtime.traceCapture() : nil
    workload.shutdown()
    var extra = traceValues.json
    extra.merge(try progress.json())
    try Terminal.results(json ? result.json(extraOptions: extra) + "\n" : result.text)
    try finishRun(
      passed: result.passed, interrupted: result.interruptedBySignal, trace: traceFile, capture: capture,
      values: traceValues, json: json)
  }

  /// A workload error as the command's exit, quoting option values as typed.
  func commandExit(_ error: WorkloadError) -> CommandExit {
    if case .option(let e) = error { return CommandExit(2, asTyped(e).description) }
    return CommandExit(error.exitStatus, error.description)
  }
}
