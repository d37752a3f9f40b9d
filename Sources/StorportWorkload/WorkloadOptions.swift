import Storport
import StorportDevices
import StorportSamples

/// `storport bench io` options (fio-like names).
public struct WorkloadOptions: Sendable {
  public enum Pattern: String, Sendable, CaseIterable {
    case read, write, randread, randwrite, randrw, rw
    var isRandom: Bool { self == .randread || self == .randwrite || self == .randrw }
  }
  public enum MiniportKind: String, Sendable { case nvme, ramdisk }
  public enum Backing: Sendable, Equatable {
    case ram, null
    case file(String)
    /// A file opened with O_DIRECT.
    case directFile(String)
    public init?(_ s: String) {
      if s.hasPrefix("direct:") {
        self = .directFile(String(s.dropFirst(7)))
        return
      }
      if s == "ram" {
        self = .ram
      } else if s == "null" {
        self = .null
      } else if s.hasPrefix("file:") {
        self = .file(String(s.dropFirst(5)))
      } else {
        return nil
      }
    }
  }

  public var pattern: Pattern = .randrw
  /// `--rwmixread`: percent of reads in mixed patterns.
  public var readPercent = 50
  /// `--bs` in bytes (a multiple of the LU block size).
  public var blockSize = 4096
  public var iodepth = 32
  public var jobs = 1
  public var runtimeMilliseconds: UInt64 = 3000
  /// `--size`: bytes of the disk the jobs use (0: the whole disk).
  public var sizeBytes: UInt64 = 0
  public var verify = false
  public var seed: UInt64 = 1
  public var miniport: MiniportKind = .ramdisk
  public var backing: Backing = .ram
  /// Disk capacity.
  public var diskBytes: UInt64 = 256 << 20
  public var ramdiskCompletion: RamDiskMiniport.CompletionMode = .startIo
  public var simulated = false
  public var processors: Int? = nil
  public var verifier: VerifierMode = .default
  public var idlePolicy: IdlePolicy = .default
  /// Live progress lines (to the `progress` callback) once a second.
  public var progress = false
  /// NVMe device latency and faults.
  public var latency: LatencyModel = .fixed(nanoseconds: 0)
  public var faults = NvmeFaults.none
  /// NVMe watchdog: a queue with no progress this long is stuck.
  public var stuckTimeoutMilliseconds: UInt64 = 50
  /// Runtime trace (`.full` for `--trace`).
  public var trace: TraceMode = .ring(capacity: 64)

  public init() {}

  /// Parses "4096", "4k", "1M", "2g" (binary units).
  public static func parseSize(_ s: String) -> UInt64? {
    let lower = s.lowercased()
    let units: [(String, UInt64)] = [("k", 1 << 10), ("m", 1 << 20), ("g", 1 << 30), ("t", 1 << 40)]
    for (u, m) in units where lower.hasSuffix(u) || lower.hasSuffix(u + "b") || lower.hasSuffix(u + "ib") {
      let digits = lower.prefix { $0.isNumber }
      return UInt64(digits).map { $0 * m }
    }
    return UInt64(lower)
  }
}
