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
  public static let logicalBlockSizes = [512, 4096]

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
  public var logicalBlockSize = 4096
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
  /// Runtime trace (`.ring` for verifier reports; longer for `--trace`).
  public var trace: TraceMode = .ring(capacity: 64)

  public init() {}

  /// Processors allowed on either platform.
  public static let processorRange = 1...64
  public static let iodepthRange = 1...4096
  public static let jobsRange = 1...256
  /// Bytes of request buffers a run may allocate (iodepth × numjobs × bs).
  public static let bufferBudget: UInt64 = 4 << 30
  /// Largest target the models address (NVMe namespace and READ CAPACITY(16) go further; this
  /// keeps bitmaps and verify state sane).
  public static let maximumSizeBytes: UInt64 = 1 << 50

  /// Whether any write is issued (the target can then be opened read-only).
  public var writes: Bool { !verifyOnly && pattern.writes }

  /// Checks every value and combination that needs no file: exits with the first problem.
  public func validate() throws(OptionError) {
    guard Self.logicalBlockSizes.contains(logicalBlockSize) else {
      throw OptionError("--logical-block-size", "\(logicalBlockSize)", "512 or 4096")
    }
    guard blockSize > 0, blockSize <= 16 << 20 else {
      throw OptionError("--bs", "\(blockSize)", "from \(logicalBlockSize) bytes to 16 MiB")
    }
    guard blockSize % logicalBlockSize == 0 else {
      throw OptionError(
        "--bs", "\(blockSize)", "must be a multiple of the \(logicalBlockSize)-byte logical block size")
    }
    if verify != .off && blockSize < VerifyHeader.size * 2 {
      throw OptionError(
        "--bs", "\(blockSize)", "--verify needs units of at least \(VerifyHeader.size * 2) bytes")
    }
    guard Self.iodepthRange.contains(iodepth) else {
      throw OptionError("--iodepth", "\(iodepth)", "from 1 to \(Self.iodepthRange.upperBound)")
    }
    guard Self.jobsRange.contains(jobs) else {
      throw OptionError("--numjobs", "\(jobs)", "from 1 to \(Self.jobsRange.upperBound)")
    }
    let buffers = UInt64(iodepth) * UInt64(jobs) * UInt64(blockSize)
    guard buffers <= Self.bufferBudget else {
      throw OptionError(
        "--iodepth", "\(iodepth)",
        "iodepth × numjobs × bs = \(OptionValue.bytes(buffers)) of request buffers; at most \(OptionValue.bytes(Self.bufferBudget))"
      )
    }
    guard runtimeNanoseconds > 0 else {
      throw OptionError("--runtime", "0", "must be more than 0")
    }
    if let readPercent {
      guard (0...100).contains(readPercent) else {
        throw OptionError("--rwmixread", "\(readPercent)", "a percentage from 0 to 100")
      }
      guard pattern.isMixed, !verifyOnly else {
        throw OptionError("--rwmixread", "\(readPercent)", "applies only to --rw randrw or readwrite")
      }
    }
    if let processors, !Self.processorRange.contains(processors) {
      throw OptionError("--processors", "\(processors)", "from 1 to 64")
    }
    if simulated && idlePolicy == .poll {
      throw OptionError("--poll", nil, "applies only to the live platform, not --simulated")
    }
    if let sizeBytes {
      guard sizeBytes > 0, sizeBytes <= Self.maximumSizeBytes else {
        throw OptionError(
          "--size", "\(sizeBytes)", "from 1 logical block to \(OptionValue.bytes(Self.maximumSizeBytes))")
      }
      guard sizeBytes % UInt64(logicalBlockSize) == 0 else {
        throw OptionError(
          "--size", "\(sizeBytes)", "must be a multiple of the \(logicalBlockSize)-byte logical block size")
      }
      if target == .ram, sizeBytes > Self.physicalMemoryBytes {
        throw OptionError(
          "--size", "\(sizeBytes)",
          "a RAM target must fit in this machine's memory (\(OptionValue.bytes(Self.physicalMemoryBytes)))")
      }
    }
    if case .file(let path, _) = target, path.isEmpty {
      throw OptionError("--filename", path, "a path to a file or block device")
    }
    if case .file(_, true) = target {
    } else if isDirect {
      throw OptionError("--direct", "1", "applies only to a file target (--filename)")
    }
    if readOnly && pattern.writes && !verifyOnly {
      throw OptionError("--readonly", nil, "refuses writes, but --rw \(pattern.rawValue) writes")
    }
    if verify != .off {
      if target == .null {
        throw OptionError(
          "--verify", verify.rawValue, "needs a target that keeps data (RAM or --filename), not null")
      }
      if !pattern.writes && !verifyOnly && target == .ram {
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
    if verifyStatePath != nil && (verify == .off || target.path == nil) {
      throw OptionError(
        "--verify_state", verifyStatePath!, "applies only with --verify crc32c on a --filename target")
    }
    if miniport != .nvme {
      if faults != .none {
        throw OptionError(
          "--fault", nil, "applies only to --miniport nvme (the RAM-disk miniport has no device model)")
      }
      if latency != nil {
        throw OptionError(
          "--latency", nil, "applies only to --miniport nvme (the RAM-disk miniport has no device model)")
      }
      if stuckTimeoutMilliseconds != nil {
        throw OptionError("--stuck-ms", nil, "applies only to --miniport nvme")
      }
    } else if ramdiskCompletion != nil {
      throw OptionError("--completion", ramdiskCompletion!.rawValue, "applies only to --miniport ramdisk")
    }
    if let stuckTimeoutMilliseconds, !(1...60_000).contains(stuckTimeoutMilliseconds) {
      throw OptionError("--stuck-ms", "\(stuckTimeoutMilliseconds)", "from 1 to 60000 milliseconds")
    }
  }

  var isDirect: Bool {
    if case .file(_, true) = target { return true }
    return false
  }

  /// The fraction of reads, 0…100.
  var effectiveReadPercent: Int {
    switch pattern {
    case .read, .randread: return 100
    case .write, .randwrite: return 0
    case .randrw, .readwrite: return readPercent ?? 50
    }
  }

  /// This machine's physical memory in bytes.
  public static var physicalMemoryBytes: UInt64 { HostInfo.physicalMemoryBytes }
}
