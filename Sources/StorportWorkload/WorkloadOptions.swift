import Storport
import StorportDevices
import StorportSamples

/// What a workload does and against what: fio's vocabulary (`rw`, `bs`, `iodepth`, `numjobs`,
/// `runtime`, `size`, `filename`, `direct`, `readonly`, `verify`, `verify_only`) plus the
/// Storport side (miniport, platform, device model). ``validate()`` checks every value and
/// every combination before anything is opened, created or started.
public struct WorkloadOptions: Sendable {
  /// fio's `rw=`.
  public enum Pattern: String, Sendable, CaseIterable {
    case read, write, randread, randwrite, randrw, readwrite
    public var isRandom: Bool { self == .randread || self == .randwrite || self == .randrw }
    /// Reads and writes mixed by `rwmixread`.
    public var isMixed: Bool { self == .randrw || self == .readwrite }
    public var reads: Bool { self != .write && self != .randwrite }
    public var writes: Bool { self != .read && self != .randread }
    /// fio's spellings, including the `rw` alias of `readwrite`.
    public init?(fio text: String) {
      if text == "rw" {
        self = .readwrite
      } else {
        self.init(rawValue: text)
      }
    }
    public static let spellings = allCases.map(\.rawValue) + ["rw"]
  }

  public enum MiniportKind: String, Sendable, CaseIterable { case nvme, ramdisk }

  /// Where the blocks live.
  public enum Target: Sendable, Equatable {
    /// Anonymous memory (lost at exit).
    case ram
    /// No data: reads return zeros, writes are dropped (throughput measurements).
    case null
    /// A regular file or block device; `direct` opens it with O_DIRECT.
    case file(path: String, direct: Bool)

    public var path: String? {
      if case .file(let p, _) = self { return p }
      return nil
    }
  }

  /// fio's `verify=`.
  public enum VerifyMode: String, Sendable, CaseIterable {
    case off = "0"
    /// Every written unit carries a ``VerifyHeader`` with a CRC-32C of its payload.
    case crc32c
  }

  public static let defaultSizeBytes: UInt64 = 256 << 20

  public var pattern: Pattern = .randrw
  /// `--rwmixread`: percent of reads for mixed patterns (nil: 50).
  public var readPercent: Int? = nil
  /// `--bs` in bytes: a multiple of the logical block size.
  public var blockSize = 4096
  /// Outstanding requests per job.
  public var iodepth = 32
  /// `--numjobs`: independent jobs, each on its own slice of the region.
  public var jobs = 1
  /// Run time (virtual on the simulated platform). Ignored by `verifyOnly`, which ends when
  /// every unit was checked.
  public var runtimeNanoseconds: UInt64 = 3_000_000_000
  public var target: Target = .ram
  /// `--size`: the capacity presented to the miniport, and the region the jobs use. nil: the
  /// file's own size, or ``defaultSizeBytes`` for RAM and null targets. A file is grown only
  /// when this asks for more than it has, and never shrunk.
  public var sizeBytes: UInt64? = nil
  /// Logical block size of the emulated disk: 512 or 4096.
  /// Logical block size: 512 or 4096 (nil: 4096, or what the verify state records for
  /// `--verify_only`).
  public var logicalBlockSize: Int? = nil
  public var effectiveLogicalBlockSize: Int { logicalBlockSize ?? 4096 }
  /// `--readonly`: refuse any write; the target is opened read-only.
  public var readOnly = false
  public var verify: VerifyMode = .off
  /// `--verify_only`: issue no workload; read back every unit a previous `--verify` run wrote
  /// (from its verify state) and check it.
  public var verifyOnly = false
  /// Where the verify state lives (nil: `<filename>.verify-state`).
  public var verifyStatePath: String? = nil
  public var seed: UInt64 = 1
  public var miniport: MiniportKind = .ramdisk
  /// A C miniport's shared object (`--miniport PATH.so`): used instead of `miniport`.
  public var miniportLibrary: String? = nil
  /// The miniport's name for reports: `nvme`, `ramdisk`, or the C miniport's file.
  public var miniportName: String {
    guard let path = miniportLibrary else { return miniport.rawValue }
    return path.split(separator: "/").last.map(String.init) ?? path
  }
  /// Extra `ArgumentString` for a C miniport (`--miniport-args`), after the DiskSize and
  /// BlockSize the workload passes.
  public var miniportArguments: String? = nil
  /// RAM-disk miniport only (nil: `.startIo`).
  public var ramdiskCompletion: RamDiskMiniport.CompletionMode? = nil
  public var simulated = false
  /// Processors, 1…64 (nil: min(host cores, 64) live, 2 simulated).
  public var processors: Int? = nil
  public var verifier: VerifierMode = .default
  public var idlePolicy: IdlePolicy = .default
  /// NVMe device latency (nil: 0, inline at the doorbell). NVMe miniport only.
  public var latency: LatencyModel? = nil
  /// NVMe faults. NVMe miniport only.
  public var faults = NvmeFaults.none
  /// NVMe watchdog: a queue with no progress this long is stuck (nil: 50 ms). NVMe only.
  public var stuckTimeoutMilliseconds: UInt64? = nil
  /// Runtime trace (``TraceMode/reportRing`` for verifier reports; longer for `--trace`).
  public var trace: TraceMode = .reportRing

  public init() {}

  // The accepted ranges — one definition, used by the command line (which quotes the user's
  // own text when a value is out of range) and by ``validate()`` (for library callers).
  public static let logicalBlockSizes = [512, 4096]
  public static let blockSizeRange: ClosedRange<UInt64> = 1...(16 << 20)
  public static let readPercentRange = 0...100
  public static let iodepthRange = 1...4096
  public static let jobsRange = 1...256
  /// Processors allowed on either platform.
  public static let processorRange = 1...LivePlatform.maximumProcessors
  /// 1 µs … 366 days.
  public static let runtimeRange: ClosedRange<UInt64> = 1_000...(366 * 86_400 * 1_000_000_000)
  /// Largest target the models address (NVMe namespace and READ CAPACITY(16) go further; this
  /// keeps bitmaps and verify state sane).
  public static let maximumSizeBytes: UInt64 = 1 << 50
  public static let sizeRange: ClosedRange<UInt64> = 1...maximumSizeBytes
  public static let stuckTimeoutRange: ClosedRange<UInt64> = 1...60_000
  public static let faultPpmRange: ClosedRange<UInt32> = 1...1_000_000
  public static let slowStartRange: ClosedRange<UInt64> = 1...60_000
  /// Device latency bound, in microseconds.
  public static let latencyMaximumMicroseconds: UInt64 = 10_000_000
  /// Bytes of request buffers a run may allocate (iodepth × numjobs × bs).
  public static let bufferBudget: UInt64 = 4 << 30

  // Resolved defaults.
  public var effectiveStuckTimeoutMilliseconds: UInt64 { stuckTimeoutMilliseconds ?? 50 }
  public var effectiveCompletion: RamDiskMiniport.CompletionMode { ramdiskCompletion ?? .startIo }
  public var effectiveLatency: LatencyModel { latency ?? .fixed(nanoseconds: 0) }

  /// Whether any write is issued (the target can then be opened read-only).
  public var writes: Bool { !verifyOnly && pattern.writes }

  /// The largest transfer the chosen miniport accepts (its PORT_CONFIGURATION_INFORMATION
  /// MaximumTransferLength), known before it starts.
  public var maximumTransferBytes: Int {
    // A C miniport states its own in HwStorFindAdapter: checked once it has started.
    if miniportLibrary != nil { return 16 << 20 }
    switch miniport {
    case .nvme: return NvmeMiniport.maximumTransferBytes
    case .ramdisk: return RamDiskMiniport.maximumTransferBlocks * effectiveLogicalBlockSize
    }
  }

  static func check<T: Comparable>(
    _ v: T, _ range: ClosedRange<T>, _ option: String, _ describe: (T) -> String = { "\($0)" }
  ) throws(OptionError) {
    guard range.contains(v) else {
      throw OptionError(
        option, "\(v)", "must be from \(describe(range.lowerBound)) to \(describe(range.upperBound))")
    }
  }

  /// Checks every value and combination that needs no file: exits with the first problem.
  public func validate() throws(OptionError) {
    let lbs = effectiveLogicalBlockSize
    guard Self.logicalBlockSizes.contains(lbs) else {
      throw OptionError("--logical-block-size", "\(lbs)", "512 or 4096")
    }
    if !verifyOnly {  // --verify_only reads at the geometry its verify state records
      guard blockSize >= lbs, blockSize % lbs == 0 else {
        throw OptionError(
          "--bs", "\(blockSize)",
          "must be a whole number of \(lbs)-byte logical blocks (\(lbs), \(2 * lbs), …)")
      }
      guard blockSize <= maximumTransferBytes else {
        throw OptionError(
          "--bs", "\(blockSize)",
          "larger than the \(miniport.rawValue) miniport's maximum transfer length (\(Format.bytes(UInt64(maximumTransferBytes))))"
        )
      }
      if verify != .off && blockSize < VerifyHeader.size * 2 {
        throw OptionError(
          "--bs", "\(blockSize)", "--verify needs units of at least \(VerifyHeader.size * 2) bytes")
      }
    } else if let sizeBytes {
      throw OptionError(
        "--size", "\(sizeBytes)",
        "does not apply with --verify_only (it reads the whole file the earlier run wrote)")
    }
    try Self.check(iodepth, Self.iodepthRange, "--iodepth")
    try Self.check(jobs, Self.jobsRange, "--numjobs")
    let buffers = UInt64(iodepth) * UInt64(jobs) * UInt64(blockSize)
    guard buffers <= Self.bufferBudget else {
      throw OptionError(
        "--iodepth", "\(iodepth)",
        "iodepth × numjobs × bs = \(Format.bytes(buffers)) of request buffers; at most \(Format.bytes(Self.bufferBudget))"
      )
    }
    try Self.check(runtimeNanoseconds, Self.runtimeRange, "--runtime", Format.duration)
    if let readPercent {
      try Self.check(readPercent, Self.readPercentRange, "--rwmixread")
      guard pattern.isMixed, !verifyOnly else {
        throw OptionError("--rwmixread", "\(readPercent)", "applies only to --rw randrw or readwrite")
      }
    }
    if let processors { try Self.check(processors, Self.processorRange, "--processors") }
    if simulated && idlePolicy == .poll {
      throw OptionError("--poll", nil, "applies only to the live platform, not --simulated")
    }
    if let sizeBytes {
      try Self.check(sizeBytes, Self.sizeRange, "--size", Format.bytes)
      guard sizeBytes % UInt64(lbs) == 0 else {
        throw OptionError(
          "--size", "\(sizeBytes)", "must be a multiple of the \(lbs)-byte logical block size")
      }
      if target == .ram, sizeBytes > HostInfo.physicalMemoryBytes {
        throw OptionError(
          "--size", "\(sizeBytes)",
          "a RAM target must fit in this machine's memory (\(Format.bytes(HostInfo.physicalMemoryBytes)))")
      }
    }
    if case .file(let path, _) = target, path.isEmpty {
      throw OptionError("--filename", path, "a path to a file or block device")
    }
    if readOnly && writes {
      throw OptionError("--readonly", nil, "refuses writes, but --rw \(pattern.rawValue) writes")
    }
    if verify != .off {
      if target == .null {
        throw OptionError(
          "--verify", verify.rawValue, "needs a target that keeps data (RAM or --filename), not null")
      }
      if !writes && !verifyOnly && target == .ram {
        throw OptionError(
          "--verify", verify.rawValue,
          "a read-only workload on a fresh RAM target has nothing to verify; write with --rw write|randwrite|randrw first, or use --filename"
        )
      }
    }
    if verifyOnly {
      guard verify == .crc32c else {
        throw OptionError("--verify_only", nil, "needs --verify crc32c (the format the earlier run wrote)")
      }
      guard target.path != nil else {
        throw OptionError(
          "--verify_only", nil, "needs --filename: only a file outlives the run that wrote it")
      }
    }
    if let verifyStatePath, verify == .off || target.path == nil {
      throw OptionError(
        "--verify_state", verifyStatePath, "applies only with --verify crc32c on a --filename target")
    }
    if miniportLibrary != nil {
      // The workload passes the disk's geometry itself: the same keys from the user would be
      // ignored (or, in a miniport that takes the last one, disagree with the workload's).
      for entry in (miniportArguments ?? "").split(separator: ";") {
        let key = entry.split(separator: "=", maxSplits: 1).first.map {
          $0.trimmingCharacters(in: .whitespaces).lowercased()
        }
        if key == "disksize" {
          throw OptionError("--miniport-args", miniportArguments, "DiskSize is set from --size")
        }
        if key == "blocksize" {
          throw OptionError(
            "--miniport-args", miniportArguments, "BlockSize is set from --logical-block-size")
        }
      }
      if let ramdiskCompletion {
        throw OptionError("--completion", ramdiskCompletion.rawValue, "applies only to --miniport ramdisk")
      }
      if stuckTimeoutMilliseconds != nil {
        throw OptionError("--stuck-ms", nil, "applies only to --miniport nvme (the Swift sample's watchdog)")
      }
    } else if miniportArguments != nil {
      throw OptionError("--miniport-args", miniportArguments, "applies only with --miniport PATH.so")
    } else if miniport != .nvme {
      let noModel = "applies only to --miniport nvme (the RAM-disk miniport has no device model)"
      if faults != .none { throw OptionError("--fault", nil, noModel) }
      if latency != nil { throw OptionError("--latency", nil, noModel) }
      if stuckTimeoutMilliseconds != nil { throw OptionError("--stuck-ms", nil, noModel) }
    } else if let latency, latency.maximumNanoseconds >= effectiveStuckTimeoutMilliseconds * 1_000_000 {
      // The sample's watchdog would call every command stuck and reset the controller, again
      // and again: nothing would ever complete.
      throw OptionError(
        "--latency", nil,
        "must stay below the NVMe watchdog's --stuck-ms (\(effectiveStuckTimeoutMilliseconds) ms): at "
          + "\(latency.maximumNanoseconds / 1_000_000) ms every command would be called stuck; raise --stuck-ms for a slower device"
      )
    } else if let ramdiskCompletion {
      throw OptionError("--completion", ramdiskCompletion.rawValue, "applies only to --miniport ramdisk")
    }
    if let stuckTimeoutMilliseconds {
      try Self.check(stuckTimeoutMilliseconds, Self.stuckTimeoutRange, "--stuck-ms")
    }
  }

  /// The fraction of reads, 0…100.
  var effectiveReadPercent: Int {
    switch pattern {
    case .read, .randread: return 100
    case .write, .randwrite: return 0
    case .randrw, .readwrite: return readPercent ?? 50
    }
  }
}
