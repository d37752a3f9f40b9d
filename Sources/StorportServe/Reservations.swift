import NIOConcurrencyHelpers
import Synchronization

/// The reservations of one exported logical unit, kept by the target in front of the adapter:
/// SPC-2 RESERVE / RELEASE (6 and 10) and SPC-4 persistent reservations (PERSISTENT RESERVE
/// IN / OUT, §5.13, §6.16, §6.17).
///
/// Why here and not in the miniport's logical unit: a reservation belongs to an I_T nexus (an
/// initiator port seen through a target port), and an SRB carries no initiator identity — as
/// with a real Storport HBA miniport, reservations are the target device's business, and the
/// target device is this front end with its adapter. The iSCSI target names a nexus by
/// initiator name and ISID (RFC 7143 §10.1.1); an NBD connection is a nexus of its own that
/// never registers.
///
/// Supported: every PERSISTENT RESERVE IN service action (READ KEYS, READ RESERVATION, REPORT
/// CAPABILITIES, READ FULL STATUS); PERSISTENT RESERVE OUT REGISTER, REGISTER AND IGNORE
/// EXISTING KEY, RESERVE, RELEASE, CLEAR, PREEMPT and PREEMPT AND ABORT (its task abort is not
/// done: the preempted nexus's commands already in the adapter finish) with the six reservation
/// types and LU scope. Not supported, and refused: REGISTER AND MOVE, APTPL (nothing persists
/// through a restart), SPEC_I_PT and ALL_TG_PT (one target port). No UNIT ATTENTION is raised
/// on preemption or release. State lives for the server's lifetime.
public final class Reservations: Sendable {
  /// What a command does to the medium, for the conflict rules (SPC-4 table 67 in spirit).
  enum Access: Equatable {
    /// Never in conflict: INQUIRY, REPORT LUNS, REQUEST SENSE, READ CAPACITY, TEST UNIT READY…
    case always
    /// Reads the medium or its state: READ, VERIFY, PRE-FETCH, MODE SENSE…
    case read
    /// Changes something: everything else.
    case write
  }

  /// Persistent reservation types (PERSISTENT RESERVE OUT TYPE field).
  enum Kind: UInt8 {
    case writeExclusive = 1
    case exclusiveAccess = 3
    case writeExclusiveRegistrantsOnly = 5
    case exclusiveAccessRegistrantsOnly = 6
    case writeExclusiveAllRegistrants = 7
    case exclusiveAccessAllRegistrants = 8

    var allRegistrants: Bool {
      self == .writeExclusiveAllRegistrants || self == .exclusiveAccessAllRegistrants
    }
    var registrantsShare: Bool { rawValue >= 5 }
    var exclusiveAccess: Bool {
      self == .exclusiveAccess || self == .exclusiveAccessRegistrantsOnly
        || self == .exclusiveAccessAllRegistrants
    }
  }

  struct State {
    /// SPC-2 RESERVE holder.
    var reservedBy: String?
    /// Registered nexuses and their keys, in registration order.
    var keys: [(nexus: String, key: UInt64)] = []
    var generation: UInt32 = 0
    /// The persistent reservation: its holder (ignored for the all-registrants types) and type.
    var holder: String?
    var kind: Kind?

    func key(of nexus: String) -> UInt64? { keys.first { $0.nexus == nexus }?.key }

    /// Whether `nexus` holds the persistent reservation (every registrant, for the
    /// all-registrants types).
    func holds(_ nexus: String) -> Bool {
      guard let kind else { return false }
      return kind.allRegistrants ? key(of: nexus) != nil : holder == nexus
    }

    mutating func unregister(_ nexus: String) {
      let wasHolder = holds(nexus)
      keys.removeAll { $0.nexus == nexus }
      if let kind, kind.allRegistrants ? keys.isEmpty : wasHolder { release() }
    }

    mutating func release() {
      holder = nil
      kind = nil
    }
  }

  private let state = NIOLockedValueBox(State())
  /// Whether any reservation or registration exists (kept under the state's lock, read without
  /// it): while none does, the commands of every nexus pass without taking the lock.
  private let engaged = Atomic<Bool>(false)

  /// Runs `body` on the state and republishes ``engaged``.
  private func update<R>(_ body: (inout State) -> R) -> R {
    state.withLockedValue { s in
      let result = body(&s)
      engaged.store(s.reservedBy != nil || s.kind != nil || !s.keys.isEmpty, ordering: .releasing)
      return result
    }
  }

  public init() {}

  static let conflict = AdapterDisk.ScsiOutcome(status: 0x18)

  static func check(_ key: UInt8, _ asc: UInt8, _ ascq: UInt8) -> AdapterDisk.ScsiOutcome {
    AdapterDisk.ScsiOutcome(status: 0x02, sense: TargetSense.bytes(key, asc, ascq))
  }

  /// Decides `cdb` from `nexus` before the adapter sees it: the answer to a reservation command
  /// (RESERVE, RELEASE, PERSISTENT RESERVE IN / OUT; `parameters` is a PERSISTENT RESERVE OUT
  /// parameter list), RESERVATION CONFLICT for a command the reservations forbid this nexus,
  /// or nil: the command goes to the logical unit.
  public func decide(cdb: [UInt8], parameters: [UInt8], nexus: String) -> AdapterDisk.ScsiOutcome? {
    guard let opcode = cdb.first else { return nil }
    switch opcode {
    case 0x16, 0x56: return reserve(cdb, nexus)
    case 0x17, 0x57: return release(cdb, nexus)
    case 0x5E: return persistentReserveIn(cdb, nexus)
    case 0x5F: return persistentReserveOut(cdb, parameters, nexus)
    default:
      return allows(Self.access(cdb), nexus) ? nil : Self.conflict
    }
  }

  /// Whether `nexus` may run a command of `access` now.
  func allows(_ access: Access, _ nexus: String) -> Bool {
    if access == .always || !engaged.load(ordering: .acquiring) { return true }
    return state.withLockedValue { s in
      if let owner = s.reservedBy, owner != nexus { return false }
      guard let kind = s.kind, !s.holds(nexus) else { return true }
      if kind.registrantsShare && s.key(of: nexus) != nil { return true }
      return access == .read && !kind.exclusiveAccess
    }
  }

  /// Whether `nexus` may read (`write` false) or write now: for front ends without CDBs (NBD).
  public func allows(write: Bool, nexus: String) -> Bool { allows(write ? .write : .read, nexus) }

  /// The nexus is gone (logout or connection loss): its SPC-2 reservation ends. Persistent
  /// registrations and reservations outlive it, as SPC-4 requires.
  public func nexusLost(_ nexus: String) {
    update { if $0.reservedBy == nexus { $0.reservedBy = nil } }
  }

  /// A LOGICAL UNIT RESET or a target reset: SPC-2 reservations end; persistent ones stay.
  public func reset() {
    update { $0.reservedBy = nil }
  }

  static func access(_ cdb: [UInt8]) -> Access {
    switch cdb[0] {
    case 0x12, 0xA0, 0x03, 0x25, 0x00, 0x4D, 0x5E, 0x5F: return .always
    case 0xA3: return .always  // MAINTENANCE IN: REPORT SUPPORTED OPERATION CODES and kin
    case 0x9E: return cdb.count > 1 && cdb[1] & 0x1F == 0x10 ? .always : .read  // READ CAPACITY(16)
    case 0x08, 0x28, 0xA8, 0x88, 0x2F, 0xAF, 0x8F, 0x34, 0x90, 0x1A, 0x5A, 0x37, 0xB7, 0x3C, 0x84:
      return .read
    default: return .write
    }
  }

  // MARK: - RESERVE / RELEASE (SPC-2)

  private func reserve(_ cdb: [UInt8], _ nexus: String) -> AdapterDisk.ScsiOutcome {
    if cdb[0] == 0x56 && cdb.count > 1 && cdb[1] & 0x12 != 0 {  // 3RDPTY / LONGID: not supported
      return Self.check(0x05, 0x24, 0x00)
    }
    return update { s in
      // A persistent registration or reservation rules out SPC-2 reservations (SPC-4 §5.13.3).
      if !s.keys.isEmpty || s.kind != nil { return Self.conflict }
      if let owner = s.reservedBy, owner != nexus { return Self.conflict }
      s.reservedBy = nexus
      return AdapterDisk.ScsiOutcome(status: 0)
    }
  }

  private func release(_ cdb: [UInt8], _ nexus: String) -> AdapterDisk.ScsiOutcome {
    update { s in
      if !s.keys.isEmpty || s.kind != nil { return Self.conflict }
      // Releasing another nexus's reservation, or none, is GOOD and does nothing.
      if s.reservedBy == nexus { s.reservedBy = nil }
      return AdapterDisk.ScsiOutcome(status: 0)
    }
  }

  // MARK: - PERSISTENT RESERVE IN

  private func persistentReserveIn(_ cdb: [UInt8], _ nexus: String) -> AdapterDisk.ScsiOutcome {
    guard cdb.count >= 10 else { return Self.check(0x05, 0x24, 0x00) }
    let allocation = Int(cdb[7]) << 8 | Int(cdb[8])
    let data: [UInt8]? = state.withLockedValue { s in
      // Under a RESERVE(6/10) reservation every PERSISTENT RESERVE command conflicts, whoever
      // sends it (SPC-4 §5.13.3).
      if s.reservedBy != nil { return nil }
      var out = [UInt8].bigEndian(s.generation)
      switch cdb[1] & 0x1F {
      case 0:  // READ KEYS
        out += [UInt8].bigEndian(UInt32(s.keys.count * 8))
        for k in s.keys { out += [UInt8].bigEndian(k.key) }
      case 1:  // READ RESERVATION
        if let kind = s.kind {
          out += [UInt8].bigEndian(UInt32(16))
          out += [UInt8].bigEndian(kind.allRegistrants ? 0 : s.holder.flatMap { s.key(of: $0) } ?? 0)
          out += [0, 0, 0, 0, 0, kind.rawValue, 0, 0]
        } else {
          out += [UInt8].bigEndian(UInt32(0))
        }
      case 2:  // REPORT CAPABILITIES: TMV, the six types, no CRH / SIP_C / ATP_C / PTPL_C
        out = [0, 8, 0, 0x80, 0xEA, 0x01, 0, 0]
      case 3:  // READ FULL STATUS: a descriptor per registration, iSCSI TransportIDs
        var descriptors: [UInt8] = []
        for k in s.keys {
          let holder = s.holds(k.nexus)
          var d = [UInt8].bigEndian(k.key) + [0, 0, 0, 0]
          d += [holder ? 0x01 : 0, holder ? s.kind!.rawValue : 0, 0, 0, 0, 0, 0, 1]
          let transport = Self.transportID(k.nexus)
          d += [UInt8].bigEndian(UInt32(transport.count)) + transport
          descriptors += d
        }
        out += [UInt8].bigEndian(UInt32(descriptors.count)) + descriptors
      default:
        return []
      }
      return out
    }
    guard let data else { return Self.conflict }
    if data.isEmpty { return Self.check(0x05, 0x24, 0x00) }  // service action 4–0x1F
    return AdapterDisk.ScsiOutcome(status: 0, data: DataIn(data.leading(allocation)))
  }

  /// An iSCSI TransportID (SPC-4 §7.6.4.6, format 00b): the initiator name of `nexus`
  /// ("name,i,0xISID"), NUL-terminated, padded to a multiple of 4.
  static func transportID(_ nexus: String) -> [UInt8] {
    let name = Array(nexus.split(separator: ",", maxSplits: 1).first.map(String.init)?.utf8 ?? "".utf8)
    var body = name + [0]
    while body.count % 4 != 0 || body.count < 20 { body.append(0) }
    return [0x05, 0] + [UInt8].bigEndian(UInt16(body.count)) + body
  }

  // MARK: - PERSISTENT RESERVE OUT

  private func persistentReserveOut(_ cdb: [UInt8], _ parameters: [UInt8], _ nexus: String)
    -> AdapterDisk.ScsiOutcome
  {
    guard cdb.count >= 10 else { return Self.check(0x05, 0x24, 0x00) }
    let action = cdb[1] & 0x1F
    let scope = cdb[2] >> 4
    let type = cdb[2] & 0x0F
    let length = Int(cdb[5]) << 24 | Int(cdb[6]) << 16 | Int(cdb[7]) << 8 | Int(cdb[8])
    guard [0, 1, 2, 3, 4, 5, 6].contains(action) else { return Self.check(0x05, 0x24, 0x00) }
    guard length == 24, parameters.count >= 24 else { return Self.check(0x05, 0x1A, 0x00) }
    let key = parameters.readBE64(at: 0)
    let serviceKey = parameters.readBE64(at: 8)
    // SPEC_I_PT, ALL_TG_PT and APTPL are not supported (REPORT CAPABILITIES says so); the
    // last two mean something to REGISTER only and are ignored by the other service actions.
    let unsupported: UInt8 = action == 0 || action == 6 ? 0x0D : 0x08
    guard parameters[20] & unsupported == 0 else { return Self.check(0x05, 0x26, 0x00) }
    let good = AdapterDisk.ScsiOutcome(status: 0)
    return update { s in
      if s.reservedBy != nil { return Self.conflict }
      let current = s.key(of: nexus)
      switch action {
      case 0, 6:  // REGISTER, REGISTER AND IGNORE EXISTING KEY
        if action == 0 && key != (current ?? 0) { return Self.conflict }
        if serviceKey == 0 {
          if current != nil {
            s.unregister(nexus)
            s.generation &+= 1
          }
          return good
        }
        if let i = s.keys.firstIndex(where: { $0.nexus == nexus }) {
          s.keys[i].key = serviceKey
        } else {
          s.keys.append((nexus, serviceKey))
        }
        s.generation &+= 1
        return good
      default:
        break
      }
      guard let current, current == key else { return Self.conflict }
      let kind = Kind(rawValue: type)
      switch action {
      case 1:  // RESERVE
        guard scope == 0, let kind else { return Self.check(0x05, 0x24, 0x00) }
        if let held = s.kind {
          return s.holds(nexus) && held == kind ? good : Self.conflict
        }
        s.holder = nexus
        s.kind = kind
        return good
      case 2:  // RELEASE
        guard let held = s.kind, s.holds(nexus) else { return good }
        guard scope == 0, kind == held else { return Self.check(0x05, 0x26, 0x04) }
        s.release()
        return good
      case 3:  // CLEAR
        s.keys.removeAll()
        s.release()
        s.generation &+= 1
        return good
      default:  // PREEMPT, PREEMPT AND ABORT
        guard scope == 0, let kind else { return Self.check(0x05, 0x24, 0x00) }
        return preempt(&s, nexus, serviceKey, kind)
      }
    }
  }

  /// PREEMPT (SPC-4 §5.13.11.4): removes the registrations holding `serviceKey`, and when they
  /// include the reservation's holder (or, for the all-registrants types, `serviceKey` is 0:
  /// every other registration) the caller takes the reservation with `kind`.
  private func preempt(_ s: inout State, _ nexus: String, _ serviceKey: UInt64, _ kind: Kind)
    -> AdapterDisk.ScsiOutcome
  {
    let good = AdapterDisk.ScsiOutcome(status: 0)
    if let held = s.kind, held.allRegistrants && serviceKey == 0 {
      s.keys.removeAll { $0.nexus != nexus }
      s.holder = nexus
      s.kind = kind
      s.generation &+= 1
      return good
    }
    guard serviceKey != 0 else { return Self.check(0x05, 0x26, 0x00) }
    let holderPreempted =
      s.kind.map { !$0.allRegistrants } == true && s.holder.flatMap { s.key(of: $0) } == serviceKey
    let before = s.keys.count
    s.keys.removeAll { $0.key == serviceKey && $0.nexus != nexus }
    guard s.keys.count < before || holderPreempted else { return Self.conflict }
    if holderPreempted {
      s.holder = nexus
      s.kind = kind
    } else if let held = s.kind, held.allRegistrants && s.keys.isEmpty {
      s.release()
    }
    s.generation &+= 1
    return good
  }

}
