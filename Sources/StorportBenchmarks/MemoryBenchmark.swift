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

  public func run() throws -> String {
    let before = Self.residentBytes()
    let store = try RamStore(bytes: bytes)
    let block = UnsafeMutableRawPointer.allocate(byteCount: store.blockSize, alignment: 4096)
    defer { block.deallocate() }
    block.initializeMemory(as: UInt8.self, repeating: 0xA5, count: store.blockSize)
    for lba in 0..<store.blockCount {
      try store.write(lba: lba, count: 1, from: block, forceUnitAccess: false)
    }
    let after = Self.residentBytes()
    let added = after > before ? after - before : 0
    let overhead = Int64(added) - Int64(bytes)
    let pct = Double(overhead) / Double(bytes) * 100
    var s = "RAM backing of \(bytes) bytes, fully written: resident memory +\(added) bytes\n"
    s += "  beyond N: \(overhead) bytes (\(Int(pct * 1000)) / 1000 %); goal ≤ 5 % + fixed overhead\n"
    s +=
      "  store bookkeeping: bitmap \(store.overheadBytes) bytes (1 bit per \(store.blockSize)-byte block) + object headers\n"
    _ = store
    return s
  }
}
