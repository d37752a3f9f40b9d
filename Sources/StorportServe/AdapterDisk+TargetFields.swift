/// Fields of a miniport's answer that describe the target rather than the miniport: the
/// front end, not the miniport's LU, decides them, so the front end writes them into the
/// answer as it leaves the adapter (every other byte is the miniport's).
enum TargetOwnedField: Equatable {
  /// The Block Limits VPD page (INQUIRY EVPD, page 0xB0): MAXIMUM TRANSFER LENGTH.
  case blockLimits
  /// MODE SENSE(6) or (10) (`ten`) of current, default or saved values (`pc` not 1) that may hold
  /// the Control mode page (0x0A): its TST field and TAS bit.
  case controlPage(ten: Bool)

  /// The field `cdb`'s answer holds that the target owns, if any.
  init?(_ cdb: [UInt8]) {
    guard cdb.count >= 6 else { return nil }
    switch cdb[0] {
    case 0x12 where cdb[1] & 0x01 != 0 && cdb[2] == 0xB0:
      self = .blockLimits
    case 0x1A, 0x5A:
      let pc = cdb[2] >> 6
      let page = cdb[2] & 0x3F
      // Changeable values (pc 1) keep the miniport's: TST and TAS are not changeable.
      guard pc != 1, page == 0x0A || page == 0x3F else { return nil }
      self = .controlPage(ten: cdb[0] == 0x5A)
    default:
      return nil
    }
  }
}

extension AdapterDisk {
  /// Writes the target's value of `field` into the first `count` bytes of `buffer` (an
  /// answer the miniport's LU returned GOOD), as far as they hold it.
  ///
  /// * Block Limits: MAXIMUM TRANSFER LENGTH is ``largestCommandBytes`` in blocks — what
  ///   `execute` splits into the miniport's requests (SBC-4 §6.6.4: the limit of the device
  ///   server the initiator talks to, as a Windows class driver splits what is above an
  ///   adapter's MaximumTransferLength); OPTIMAL TRANSFER LENGTH stays the miniport's (one
  ///   request), lowered to the maximum if it was above it. A page too short to hold a field is
  ///   left alone; an allocation length that cuts a field gets its first bytes.
  /// * Control mode page: TST 001b — a task set per I_T nexus (an iSCSI session's commands
  ///   are its own: CLEAR TASK SET and ABORT TASK SET act on that nexus's) — and
  ///   TAS one — another I_T nexus's reset ends this nexus's tasks with TASK ABORTED status
  ///   (SAM-5 §5.6). The iSCSI front end does both whatever the miniport says.
  func rewrite(_ field: TargetOwnedField, in buffer: DataBuffer, count: Int) {
    let bytes = UnsafeMutableRawBufferPointer(start: buffer.pointer, count: min(count, buffer.count))
    switch field {
    case .blockLimits:
      guard bytes.count > 8, bytes[1] == 0xB0 else { return }
      let pageLength = Int(bytes[2]) << 8 | Int(bytes[3])
      guard pageLength >= 8 else { return }
      let maximum = UInt32(clamping: Self.largestCommandBytes / blockSize)
      Self.store(maximum, at: 8, in: bytes)
      if pageLength >= 12 && bytes.count >= 16 && Self.load(at: 12, in: bytes) > maximum {
        Self.store(maximum, at: 12, in: bytes)
      }
    case .controlPage(let ten):
      guard let at = Self.controlPage(in: bytes, ten: ten) else { return }
      // TST 001b, TAS one.
      if at + 2 < bytes.count && bytes[at + 1] >= 1 { bytes[at + 2] = bytes[at + 2] & 0x1F | 0x20 }
      if at + 5 < bytes.count && bytes[at + 1] >= 4 { bytes[at + 5] |= 0x40 }
    }
  }

  /// The offset of the Control mode page (0x0A, page_0 format) in mode parameters `bytes` — a
  /// MODE SENSE answer or a MODE SELECT list, whose headers have the same shape (4 bytes, or 8
  /// for the (10) commands, then the block descriptors) — if `bytes` holds its code and length.
  static func controlPage(in bytes: UnsafeMutableRawBufferPointer, ten: Bool) -> Int? {
    let header = ten ? 8 : 4
    guard bytes.count > header else { return nil }
    var at = header + (ten ? Int(bytes[6]) << 8 | Int(bytes[7]) : Int(bytes[3]))
    while at + 1 < bytes.count {
      let subpageFormat = bytes[at] & 0x40 != 0
      if bytes[at] & 0x3F == 0x0A && !subpageFormat { return at }
      guard !subpageFormat || at + 3 < bytes.count else { return nil }
      at += subpageFormat ? 4 + (Int(bytes[at + 2]) << 8 | Int(bytes[at + 3])) : 2 + Int(bytes[at + 1])
    }
    return nil
  }

  /// A MODE SELECT's Control mode page as the miniport's LU must see it. MODE SENSE through this
  /// target reports the target's TST (001b) and TAS (one) (``rewrite(_:in:count:)``), and
  /// neither is changeable: a page sent back with those values is accepted, and the LU is
  /// given its own (000b and zero — what an LU that models neither reports, as the sample
  /// LU does) so that its SPC-4 §6.11 check sees no change. Any other TST or TAS asks for a
  /// change the target does not make: ILLEGAL REQUEST, INVALID FIELD IN PARAMETER LIST, the LU
  /// not asked (nil: the list goes on, rewritten in `buffer`). A list too short or malformed
  /// to hold the page is left to the LU to refuse.
  func admitModeSelect(_ cdb: [UInt8], in buffer: DataBuffer) -> ScsiOutcome? {
    guard cdb.count >= 6, cdb[0] == 0x15 || cdb[0] == 0x55 else { return nil }
    let ten = cdb[0] == 0x55
    let listLength = ten ? (cdb.count >= 10 ? Int(cdb[7]) << 8 | Int(cdb[8]) : 0) : Int(cdb[4])
    let bytes = UnsafeMutableRawBufferPointer(start: buffer.pointer, count: min(listLength, buffer.count))
    guard let at = Self.controlPage(in: bytes, ten: ten), bytes[at + 1] >= 4, at + 5 < bytes.count else {
      return nil
    }
    guard bytes[at + 2] >> 5 == 0b001, bytes[at + 5] & 0x40 != 0 else {
      return ScsiOutcome(status: 0x02, sense: TargetSense.bytes(0x05, 0x26, 0x00))
    }
    bytes[at + 2] &= 0x1F
    bytes[at + 5] &= ~0x40
    return nil
  }

  /// Stores `value` big-endian at `offset`, as many of its bytes as `bytes` holds.
  private static func store(_ value: UInt32, at offset: Int, in bytes: UnsafeMutableRawBufferPointer) {
    for k in 0..<4 where offset + k < bytes.count {
      bytes[offset + k] = UInt8(truncatingIfNeeded: value >> (24 - 8 * UInt32(k)))
    }
  }

  private static func load(at offset: Int, in bytes: UnsafeMutableRawBufferPointer) -> UInt32 {
    (0..<4).reduce(0) { $0 << 8 | UInt32(bytes[offset + $1]) }
  }
}
