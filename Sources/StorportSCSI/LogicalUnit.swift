import Storport
import StorportDevices
import Synchronization

/// What a logical unit says about itself.
public struct LogicalUnitConfiguration: Sendable {
  public var vendor = "SWIFTSP"
  public var product = "STORPORT DISK"
  public var revision = "0001"
  public var serial = "SP0000000001"
  /// Maximum blocks per READ/WRITE (VPD 0xB0 MAXIMUM TRANSFER LENGTH).
  public var maxTransferBlocks: UInt32 = 2048
  public var maxUnmapBlocks: UInt32 = 0x10000
  public var maxUnmapDescriptors: UInt32 = 64
  public var maxWriteSameBlocks: UInt64 = 0x10000
  public var maxCompareAndWriteBlocks: UInt8 = 255
  /// Blocks one WRITE ATOMIC(16) may write (Block Limits VPD MAXIMUM ATOMIC TRANSFER LENGTH);
  /// 0: WRITE ATOMIC is not offered. Set only by a miniport whose device makes such a write
  /// atomic against every other command (the NVMe sample, from the namespace's NAWUN).
  public var maxAtomicTransferBlocks: UInt32 = 0
  public var readOnly = false
  /// Whether COMPARE AND WRITE is offered (a miniport that cannot translate it turns it off,
  /// so REPORT SUPPORTED OPERATION CODES stays truthful).
  public var compareAndWrite = true
  /// LUNs REPORT LUNS lists (the target decides; a lone LU lists itself).
  public var reportedLuns: [UInt64] = [0]

  public init() {}

  /// A stable NAA IEEE Registered Extended (type 6) identifier derived from the serial (FNV-1a),
  /// so the same disk keeps its VPD 0x83 identity across runs.
  public var naaIdentifier: (UInt64, UInt64) {
    var h: UInt64 = 0xCBF2_9CE4_8422_2325
    for b in (vendor + product + serial).utf8 {
      h ^= UInt64(b)
      h = h &* 0x100_0000_01B3
    }
    let oui: UInt64 = 0x0014_05  // a placeholder OUI
    return (0x6 << 60 | oui << 36 | (h >> 28), h << 36)
  }
}

/// How a data-in command treats a buffer smaller than its transfer length.
public enum OverflowPolicy: Sendable {
  /// Transfer what fits and report the rest as overflow residual (iSCSI semantics).
  case residual
  /// CHECK CONDITION, ILLEGAL REQUEST, INVALID FIELD IN CDB at the length field (SRB path).
  case checkCondition
}

/// A reusable SPC-4 / SBC-3 logical unit: answers the non-data commands itself and runs the
/// data commands against a ``BlockStore``. Miniports call it for everything they do not
/// translate for their hardware; the iSCSI target calls it directly.
///
/// Unsupported opcodes get CHECK CONDITION, ILLEGAL REQUEST, 20/00; bad CDB fields 24/00 with
/// the sense-key-specific field pointer; LBAs beyond the end 21/00.
public final class LogicalUnit: @unchecked Sendable {
  public let store: BlockStore
  public let configuration: LogicalUnitConfiguration

  struct ModeState: Sendable {
    var writeCacheEnabled = true
    var descriptorSense = false
    var softwareWriteProtect = false
    var preventRemoval = false
  }
  let mode = Locked(ModeState())
  /// SWP (a mirror of `mode`'s, stored under its lock whenever it changes) and the started
  /// state (START STOP UNIT, under `mode`'s lock), read without the lock by every block command.
  let softwareWriteProtected = Atomic<Bool>(false)
  let started = Atomic<Bool>(true)
  /// Serialises COMPARE AND WRITE (atomic compare + write).
  /// Every command that changes blocks holds their stripes while it does (writes, WRITE SAME,
  /// UNMAP, and the read-modify-writes COMPARE AND WRITE and ORWRITE across their read and
  /// write): no write lands between a read-modify-write's read and its write.
  let blockLocks = StripeLocks()

  public init(store: BlockStore, configuration: LogicalUnitConfiguration = LogicalUnitConfiguration()) {
    self.store = store
    self.configuration = configuration
  }

  public var blockSize: Int { store.blockSize }
  public var blockCount: UInt64 { store.blockCount }
  /// Sense format in force (Control mode page D_SENSE).
  public var descriptorSense: Bool { mode.withLock { $0.descriptorSense } }
  /// Writes are refused (DATA PROTECT, WRITE PROTECTED): a read-only configuration or store,
  /// or SWP set in the Control mode page by MODE SELECT.
  public var writeProtected: Bool {
    configuration.readOnly || store.isReadOnly || softwareWriteProtected.load(ordering: .acquiring)
  }
  var thinProvisioned: Bool { store.holdsData }

  /// Executes one command. `buffer` is the data-in destination or data-out source; its size is
  /// the expected transfer length.
  public func execute(
    _ cdb: Cdb, buffer: UnsafeMutableRawBufferPointer, overflow: OverflowPolicy = .checkCondition
  ) -> ScsiResult {
    guard cdb.count >= 6, let expected = Cdb.length(forOpcode: cdb.opcode), cdb.count >= expected else {
      return .illegal(.invalidCommandOperationCode, .cdb(0))
    }
    if let refusal = controlByteRefusal(cdb) { return refusal }
    if let block = BlockCommand.decode(cdb) {
      return executeBlock(block, cdb: cdb, buffer: buffer, overflow: overflow)
    }
    switch cdb.opcode {
    case 0x00: return testUnitReady()
    case 0x03: return requestSense(cdb, buffer)
    case 0x12: return inquiry(cdb, buffer)
    case 0x15, 0x55: return modeSelect(cdb, buffer)
    case 0x1A, 0x5A: return modeSense(cdb, buffer)
    case 0x1B: return startStopUnit(cdb)
    case 0x1E: return preventAllow(cdb)
    case 0x25: return readCapacity10(cdb, buffer)
    case 0x37, 0xB7: return readDefectData(cdb, buffer)
    case 0x42: return unmap(cdb, buffer)
    case 0x9E:
      switch cdb[1] & 0x1F {
      case 0x10: return readCapacity16(cdb, buffer)
      case 0x12: return getLbaStatus(cdb, buffer)
      default: return .invalidField(cdbByte: 1, bit: 4)
      }
    case 0xA0: return reportLuns(cdb, buffer)
    case 0xA3:
      guard cdb[1] & 0x1F == 0x0C else { return .invalidField(cdbByte: 1, bit: 4) }
      return reportSupportedOperationCodes(cdb, buffer)
    default:
      return .illegal(.invalidCommandOperationCode, .cdb(0))
    }
  }

  /// Copies `response` into the buffer, truncated to `allocationLength` and the buffer size.
  func dataIn(_ response: [UInt8], _ buffer: UnsafeMutableRawBufferPointer, allocationLength: Int)
    -> ScsiResult
  {
    let n = min(response.count, allocationLength, buffer.count)
    for i in 0..<n { buffer[i] = response[i] }
    return .good(n)
  }

  func testUnitReady() -> ScsiResult {
    notReadyRefusal ?? .good()
  }

  func requestSense(_ cdb: Cdb, _ buffer: UnsafeMutableRawBufferPointer) -> ScsiResult {
    // Autosense delivers errors with their command; nothing is left pending here.
    let desc = cdb[1] & 0x01 != 0
    var out = [UInt8](repeating: 0, count: desc ? 8 : 18)
    out.withUnsafeMutableBytes {
      _ = SenseData(.noSense, .none).encode(descriptorFormat: desc, into: $0)
    }
    return dataIn(out, buffer, allocationLength: Int(cdb[4]))
  }

  func startStopUnit(_ cdb: Cdb) -> ScsiResult {
    let powerCondition = cdb[4] >> 4
    if powerCondition != 0 { return .good() }  // power conditions: accepted, no state
    let loej = cdb[4] & 0x02 != 0
    let start = cdb[4] & 0x01 != 0
    return mode.withLock { m -> ScsiResult in
      if loej && !start && m.preventRemoval { return .illegal(.mediumRemovalPrevented) }
      started.store(start, ordering: .releasing)
      return .good()
    }
  }

  func preventAllow(_ cdb: Cdb) -> ScsiResult {
    let prevent = cdb[4] & 0x03
    guard prevent <= 1 else { return .invalidField(cdbByte: 4, bit: 1) }
    mode.withLock { $0.preventRemoval = prevent == 1 }
    return .good()
  }

  func reportLuns(_ cdb: Cdb, _ buffer: UnsafeMutableRawBufferPointer) -> ScsiResult {
    let alloc = Int(cdb.be32(6))
    guard alloc >= 16 else { return .invalidField(cdbByte: 6) }
    guard cdb[2] <= 2 || (0x10...0x12).contains(cdb[2]) else { return .invalidField(cdbByte: 2) }
    let luns = configuration.reportedLuns
    var out = [UInt8](repeating: 0, count: 8)
    let len = UInt32(luns.count * 8)
    out[0] = UInt8(len >> 24)
    out[1] = UInt8((len >> 16) & 0xFF)
    out[2] = UInt8((len >> 8) & 0xFF)
    out[3] = UInt8(len & 0xFF)
    for lun in luns {
      // Peripheral device addressing for LUNs < 256, flat space above.
      if lun < 256 {
        out += [0, UInt8(lun), 0, 0, 0, 0, 0, 0]
      } else {
        out += [0x40 | UInt8((lun >> 8) & 0x3F), UInt8(lun & 0xFF), 0, 0, 0, 0, 0, 0]
      }
    }
    return dataIn(out, buffer, allocationLength: alloc)
  }
}

/// Big-endian appends for response building.
extension Array where Element == UInt8 {
  mutating func be16(_ v: UInt16) { append(contentsOf: [UInt8(v >> 8), UInt8(v & 0xFF)]) }
  mutating func be32(_ v: UInt32) {
    be16(UInt16(v >> 16))
    be16(UInt16(v & 0xFFFF))
  }
  mutating func be64(_ v: UInt64) {
    be32(UInt32(v >> 32))
    be32(UInt32(v & 0xFFFF_FFFF))
  }
  mutating func ascii(_ s: String, _ width: Int) {
    var b = Array(s.utf8.prefix(width))
    while b.count < width { b.append(0x20) }
    append(contentsOf: b)
  }
  mutating func setBe16(_ at: Int, _ v: UInt16) {
    self[at] = UInt8(v >> 8)
    self[at + 1] = UInt8(v & 0xFF)
  }
}
