import CStorportShim
import StorportDevices

#if canImport(Glibc)
  import Glibc
#endif

/// What a `--verify crc32c` run leaves beside its target so a later run (`--verify_only`, or
/// another verified workload) knows which units were written and which generation each must
/// hold: the unit geometry and one 32-bit generation per unit — 0: never written by a verify
/// run; 1…0x7FFFFFFF: the generation the unit holds; bit 31 set: unknown (a write failed or
/// never completed; the low 31 bits keep the last generation attempted, so the next write
/// still gets a newer one). Written atomically
/// (temporary file, fsync, rename) when a run ends. Layout (little-endian), see
/// `docs/verify-format.md`:
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 4 | magic `SPVS` (0x53565053) |
/// | 4 | 4 | version (1) |
/// | 8 | 4 | logical block size |
/// | 12 | 4 | unit bytes (`--bs`) |
/// | 16 | 8 | target bytes when written |
/// | 24 | 8 | unit count |
/// | 32 | 8 | seed of the last writing run |
/// | 40 | 8 | reserved (0) |
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

  public let logicalBlockSize: Int
  public let unitBytes: Int
  public let unitCount: UInt64
  public var targetBytes: UInt64
  public var seed: UInt64
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

  /// Units holding a known, written generation (what a verify pass reads).
  public var writtenUnits: UInt64 {
    var n: UInt64 = 0
    for g in generations.prefix(Int(unitCount)) where Self.isKnown(g) { n += 1 }
    return n
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
    let fd = storport_open(path, O_RDONLY, 0)
    guard fd >= 0 else { throw LoadError(path: path, reason: HostInfo.errorMessage(errno)) }
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0 else { throw LoadError(path: path, reason: HostInfo.errorMessage(errno)) }
    let size = Int(st.st_size)
    guard size >= headerBytes + 4 else {
      throw LoadError(path: path, reason: "too short (\(size) bytes) to be a verify state")
    }
    let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 8)
    defer { bytes.deallocate() }
    var done = 0
    while done < size {
      let n = read(fd, bytes.baseAddress! + done, size - done)
      if n < 0 && errno == EINTR { continue }
      guard n > 0 else { throw LoadError(path: path, reason: "read failed: \(HostInfo.errorMessage(errno))") }
      done += n
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
    let crc = CRC32C.update(0, bytes.baseAddress, count: size - 4)
    guard crc == u32(size - 4) else {
      throw LoadError(path: path, reason: "checksum mismatch (the state file is damaged)")
    }
    let lbs = Int(u32(8))
    let unit = Int(u32(12))
    guard WorkloadOptions.logicalBlockSizes.contains(lbs), unit > 0, unit % lbs == 0 else {
      throw LoadError(path: path, reason: "impossible geometry (logical block \(lbs), unit \(unit))")
    }
    let state = VerifyState(
      logicalBlockSize: lbs, unitBytes: unit, unitCount: count, targetBytes: u64(16), seed: u64(32))
    for i in 0..<Int(count) { state.generations[i] = u32(headerBytes + 4 * i) }
    return state
  }

  /// Writes the state to `path` atomically (a temporary file beside it, fsync, rename).
  public func save(to path: String) throws(BlockStoreError) {
    let size = Self.headerBytes + 4 * Int(unitCount) + 4
    let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 8)
    defer { bytes.deallocate() }
    bytes.initializeMemory(as: UInt8.self, repeating: 0)
    bytes.storeBytes(of: Self.magic.littleEndian, toByteOffset: 0, as: UInt32.self)
    bytes.storeBytes(of: Self.version.littleEndian, toByteOffset: 4, as: UInt32.self)
    bytes.storeBytes(of: UInt32(logicalBlockSize).littleEndian, toByteOffset: 8, as: UInt32.self)
    bytes.storeBytes(of: UInt32(unitBytes).littleEndian, toByteOffset: 12, as: UInt32.self)
    bytes.storeBytes(of: targetBytes.littleEndian, toByteOffset: 16, as: UInt64.self)
    bytes.storeBytes(of: unitCount.littleEndian, toByteOffset: 24, as: UInt64.self)
    bytes.storeBytes(of: seed.littleEndian, toByteOffset: 32, as: UInt64.self)
    for i in 0..<Int(unitCount) {
      bytes.storeBytes(
        of: generations[i].littleEndian, toByteOffset: Self.headerBytes + 4 * i, as: UInt32.self)
    }
    let crc = CRC32C.update(0, bytes.baseAddress, count: size - 4)
    bytes.storeBytes(of: crc.littleEndian, toByteOffset: size - 4, as: UInt32.self)
    let temporary = path + ".tmp\(getpid())"
    let fd = storport_open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard fd >= 0 else { throw .system(operation: "open", path: temporary, errno: errno) }
    var done = 0
    while done < size {
      let n = write(fd, bytes.baseAddress! + done, size - done)
      if n < 0 && errno == EINTR { continue }
      guard n > 0 else {
        let e = errno
        close(fd)
        unlink(temporary)
        throw .system(operation: "write", path: temporary, errno: e)
      }
      done += n
    }
    guard fsync(fd) == 0 else {
      let e = errno
      close(fd)
      unlink(temporary)
      throw .system(operation: "fsync", path: temporary, errno: e)
    }
    close(fd)
    guard rename(temporary, path) == 0 else {
      let e = errno
      unlink(temporary)
      throw .system(operation: "rename", path: path, errno: e)
    }
  }
}
