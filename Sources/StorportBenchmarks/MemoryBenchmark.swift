import Storport
import StorportDevices

#if canImport(Glibc)
  import Glibc
#endif

/// RAM backing memory: resident memory added by a RAM disk of N bytes after every block was
/// written, against N (the baseline), and the store's fixed bookkeeping.
public struct MemoryBenchmark: Sendable {
  public let bytes: UInt64
  public init(bytes: UInt64) { self.bytes = bytes }

  static func residentBytes() -> UInt64 {
    guard let f = fopen("/proc/self/statm", "r") else { return 0 }
    defer { fclose(f) }
    var size: UInt = 0
    var resident: UInt = 0
    _ = withUnsafeMutablePointer(to: &size) { s in
      withUnsafeMutablePointer(to: &resident) { r in
        withVaList([s, r]) { vfscanf(f, "%lu %lu", $0) }
      }
    }
    return UInt64(resident) * UInt64(sysconf(Int32(_SC_PAGESIZE)))
  }

  /// What one run measured.
  public struct Result: Sendable {
    /// The RAM disk's size (N).
    public let bytes: UInt64
    /// Resident memory the fully written store added.
    public let addedResidentBytes: UInt64
    /// The store's own bookkeeping (its mapped-block bitmap).
    public let bookkeepingBytes: Int
    public let blockSize: Int

    /// Resident memory beyond N (can be negative: pages not yet counted).
    public var overheadBytes: Int64 { Int64(addedResidentBytes) - Int64(bytes) }
    public var overheadPercent: Double { Double(overheadBytes) / Double(bytes) * 100 }
    /// The goal: at most 5 % beyond N.
    public var met: Bool { overheadPercent <= 5 }

    public var text: String {
      var s = "RAM backing of \(bytes) bytes, fully written: resident memory +\(addedResidentBytes) bytes\n"
      s +=
        "  beyond N: \(overheadBytes) bytes (\((overheadPercent * 1000).rounded() / 1000) %); goal ≤ 5 % + fixed overhead: \(met ? "met" : "MISSED")\n"
      s +=
        "  store bookkeeping: bitmap \(bookkeepingBytes) bytes (1 bit per \(blockSize)-byte block) + object headers\n"
      return s
    }

    public var json: String {
      var j = JSONObject()
      j["storport_version"] = .string(StorportVersion.string)
      var o = JSONObject()
      o["size"] = .int(bytes)
      j["options"] = .object(o)
      j["added_resident_bytes"] = .int(addedResidentBytes)
      j["overhead_bytes"] = .int(overheadBytes)
      j["overhead_percent"] = .double(overheadPercent)
      j["bookkeeping_bytes"] = .int(bookkeepingBytes)
      j["goal_met"] = .bool(met)
      return j.text
    }
  }

  public func run() throws -> Result {
    let before = Self.residentBytes()
    let store = try RamStore(bytes: bytes)
    let block = UnsafeMutableRawPointer.allocate(byteCount: store.blockSize, alignment: 4096)
    defer { block.deallocate() }
    block.initializeMemory(as: UInt8.self, repeating: 0xA5, count: store.blockSize)
    for lba in 0..<store.blockCount {
      try store.write(lba: lba, count: 1, from: block, forceUnitAccess: false)
    }
    let after = Self.residentBytes()
    return Result(
      bytes: bytes, addedResidentBytes: after > before ? after - before : 0,
      bookkeepingBytes: store.overheadBytes,
      blockSize: store.blockSize)
  }
}
