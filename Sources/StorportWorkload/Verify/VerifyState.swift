import StorportDevices

#if canImport(Glibc)
  import Glibc
#endif

/// What a `--verify crc32c` run leaves beside its target so a later run (`--verify_only`, or
/// another verified workload) knows which units were written and which generation each must
/// hold: the unit geometry and one 32-bit generation per unit — 0: never written by a verify
/// run; 1…0x7FFFFFFF: the generation the unit holds; bit 31 set: unknown (a write failed or
/// never completed; the low 31 bits keep the last generation attempted, so the next write
/// still gets a newer one). Written atomically (temporary file, fsync, rename) when a writing
/// run starts (marked in progress) and when it ends. Layout (little-endian), see
/// `docs/verify-format.md`:
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 4 | magic `SPVS` (0x53565053) |
/// | 4 | 4 | version (1) |
/// | 8 | 4 | logical block size |
/// | 12 | 4 | unit bytes (`--bs`) |
/// | 16 | 8 | target bytes when written (informative) |
/// | 24 | 8 | unit count |
/// | 32 | 8 | seed of the last writing run (informative) |
/// | 40 | 8 | flags: bit 0 set while a writing run is in progress |
/// | 48 | 4 × count | generations |
/// | end | 4 | CRC-32C of everything before it |
public final class VerifyState: @unchecked Sendable {
  public static let magic: UInt32 = 0x5356_5053
  public static let version: UInt32 = 1
  static let headerBytes = 48
  /// Largest unit count kept (1 GiB of generations).
  public static let maximumUnits: UInt64 = 1 << 28
  /// The bit that marks a unit's contents unknown: such units are never checked.
  public static let unknownFlag: UInt32 = 0x8000_0000

  public let logicalBlockSize: Int
  public let unitBytes: Int
  public let unitCount: UInt64
  /// Size of the target when the state was written (informative).
  public var targetBytes: UInt64
  /// `--seed` of the last writing run (informative).
  public var seed: UInt64
  /// Saved by a writing run when it started and not again at its end (it was killed): units
  /// it wrote may hold newer generations than recorded.
  public var inProgress = false
  /// One generation per unit. Each job touches only its own slice, under its own lock.
  let generations: UnsafeMutableBufferPointer<UInt32>

  public init(logicalBlockSize: Int, unitBytes: Int, unitCount: UInt64, targetBytes: UInt64, seed: UInt64) {
    precondition(unitCount <= Self.maximumUnits, "bug in swift-storport: verify state of \(unitCount) units")
    self.logicalBlockSize = logicalBlockSize
    self.unitBytes = unitBytes
    self.unitCount = unitCount
    self.targetBytes = targetBytes
    self.seed = seed
    generations = .allocate(capacity: Int(max(unitCount, 1)))
    generations.initialize(repeating: 0)
  }

  deinit { generations.deallocate() }

  public subscript(unit: UInt64) -> UInt32 {
    get { generations[Int(unit)] }
    set { generations[Int(unit)] = newValue }
  }

  /// Whether generation `g` says what the unit holds (written, and not unknown).
  @inline(__always)
  public static func isKnown(_ g: UInt32) -> Bool { g != 0 && g & unknownFlag == 0 }

  /// The generation a new write of a unit at `g` gets (1 after 0x7FFFFFFF).
  @inline(__always)
  public static func next(after g: UInt32) -> UInt32 {
    let n = (g & ~unknownFlag) &+ 1
    return n >= unknownFlag ? 1 : n
  }

  /// `g` marked unknown (a write of generation `g` failed or never completed).
  @inline(__always)
  public static func unknown(after g: UInt32) -> UInt32 { g | unknownFlag }

  /// Units holding a known, written generation (what a verify pass reads).
  public var writtenUnits: UInt64 {
    var n: UInt64 = 0
    for g in generations.prefix(Int(unitCount)) where Self.isKnown(g) { n += 1 }
    return n
  }

  /// A state with this one's geometry and `unitCount` units, the first ones copied.
  func resized(to count: UInt64, targetBytes: UInt64, seed: UInt64) -> VerifyState {
    let c = VerifyState(
      logicalBlockSize: logicalBlockSize, unitBytes: unitBytes, unitCount: count, targetBytes: targetBytes,
      seed: seed)
    c.inProgress = inProgress
    copy(0..<min(count, unitCount), into: c)
    return c
  }

  /// Copies units `range` into `other` (with the lock that guards that slice held).
  func copy(_ range: Range<UInt64>, into other: VerifyState) {
    for u in range { other.generations[Int(u)] = generations[Int(u)] }
  }

  /// The default state path for a target file: `<path>.verify-state`.
  public static func defaultPath(for target: String) -> String { target + ".verify-state" }

  /// Why a state file cannot be used.
  public struct LoadError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let reason: String
    public var description: String { "verify state \(path): \(reason)" }
  }

  /// Whether a state file exists at `path`.
  public static func exists(at path: String) -> Bool { access(path, F_OK) == 0 }

  /// Reads and checks a state file (magic, version, length, checksum).
  public static func load(from path: String) throws(LoadError) -> VerifyState {
    let fd: Int32
    switch SystemIO.open(path, O_RDONLY) {
    case .success(let d): fd = d
    case .failure(let e): throw LoadError(path: path, reason: e.description)
    }
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0 else { throw LoadError(path: path, reason: SystemIO.message(errno)) }
    let size = Int(st.st_size)
    guard size >= headerBytes + 4 else {
      throw LoadError(path: path, reason: "too short (\(size) bytes) to be a verify state")
    }
    let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 8)
    defer { bytes.deallocate() }
    switch SystemIO.readAll(fd, bytes.baseAddress!, count: size) {
    case .failure(let e): throw LoadError(path: path, reason: "read failed: \(e)")
    case .success(let n) where n < size:
      throw LoadError(path: path, reason: "shorter than its size (\(n) of \(size) bytes)")
    case .success: break
    }
    func u32(_ o: Int) -> UInt32 {
      UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: o, as: UInt32.self))
    }
    func u64(_ o: Int) -> UInt64 {
      UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: o, as: UInt64.self))
    }
    guard u32(0) == magic else {
      throw LoadError(path: path, reason: "not a swift-storport verify state (bad magic)")
    }
    guard u32(4) == version else {
      throw LoadError(path: path, reason: "format version \(u32(4)); this build reads \(version)")
    }
    let count = u64(24)
    guard count <= maximumUnits, size == headerBytes + 4 * Int(count) + 4 else {
      throw LoadError(path: path, reason: "length \(size) does not match its \(count) units (truncated?)")
    }
    guard CRC32C.update(0, bytes.baseAddress, count: size - 4) == u32(size - 4) else {
      throw LoadError(path: path, reason: "checksum mismatch (the state file is damaged)")
    }
    let lbs = Int(u32(8))
    let unit = Int(u32(12))
    guard WorkloadOptions.logicalBlockSizes.contains(lbs), unit > 0, unit % lbs == 0 else {
      throw LoadError(path: path, reason: "impossible geometry (logical block \(lbs), unit \(unit))")
    }
    let state = VerifyState(
      logicalBlockSize: lbs, unitBytes: unit, unitCount: count, targetBytes: u64(16), seed: u64(32))
    state.inProgress = u64(40) & 1 != 0
    for i in 0..<Int(count) { state.generations[i] = u32(headerBytes + 4 * i) }
    return state
  }

  /// Writes the state to `path` atomically (a temporary file beside it, fsync, rename).
  public func save(to path: String) throws(BlockStoreError) {
    let size = Self.headerBytes + 4 * Int(unitCount) + 4
    let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 8)
    defer { bytes.deallocate() }
    bytes.initializeMemory(as: UInt8.self, repeating: 0)
    func put32(_ v: UInt32, _ o: Int) {
      bytes.storeBytes(of: v.littleEndian, toByteOffset: o, as: UInt32.self)
    }
    func put64(_ v: UInt64, _ o: Int) {
      bytes.storeBytes(of: v.littleEndian, toByteOffset: o, as: UInt64.self)
    }
    put32(Self.magic, 0)
    put32(Self.version, 4)
    put32(UInt32(logicalBlockSize), 8)
    put32(UInt32(unitBytes), 12)
    put64(targetBytes, 16)
    put64(unitCount, 24)
    put64(seed, 32)
    put64(inProgress ? 1 : 0, 40)
    for i in 0..<Int(unitCount) { put32(generations[i], Self.headerBytes + 4 * i) }
    put32(CRC32C.update(0, bytes.baseAddress, count: size - 4), size - 4)
    let temporary = path + ".tmp\(getpid())"
    let fd: Int32
    switch SystemIO.open(temporary, O_WRONLY | O_CREAT | O_TRUNC) {
    case .success(let d): fd = d
    case .failure(let e): throw .system(operation: "open", path: temporary, errno: e.errno)
    }
    func fail(_ operation: String, _ code: Int32) -> BlockStoreError {
      close(fd)
      unlink(temporary)
      return .system(operation: operation, path: temporary, errno: code)
    }
    if let e = SystemIO.writeAll(fd, bytes.baseAddress!, count: size) { throw fail("write", e.errno) }
    guard fsync(fd) == 0 else { throw fail("fsync", errno) }
    close(fd)
    guard rename(temporary, path) == 0 else {
      let e = errno
      unlink(temporary)
      throw .system(operation: "rename", path: path, errno: e)
    }
  }
}
