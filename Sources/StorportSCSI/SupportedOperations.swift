/// One command this LU supports, with its CDB usage data (the bits a client may set), as
/// REPORT SUPPORTED OPERATION CODES returns it.
struct SupportedOperation {
  let opcode: UInt8
  let serviceAction: UInt16?
  let usage: [UInt8]
}

extension LogicalUnit {
  /// Every supported command. Usage masks: byte 0 the opcode, bytes that carry fields 0xFF or
  /// the bits used, control byte 0x00 (NACA / LINK unsupported).
  var supportedOperations: [SupportedOperation] {
    let rw10: [UInt8] = [0, 0x18, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0xFF, 0xFF, 0]
    let rw12: [UInt8] = [0, 0x18, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0]
    let rw16: [UInt8] = [0, 0x18] + [UInt8](repeating: 0xFF, count: 12) + [0, 0]
    func op(_ o: UInt8, _ sa: UInt16? = nil, _ mask: [UInt8]) -> SupportedOperation {
      var m = mask
      m[0] = o
      return SupportedOperation(opcode: o, serviceAction: sa, usage: m)
    }
    var ops: [SupportedOperation] = [
      op(0x00, nil, [0, 0, 0, 0, 0, 0]),
      op(0x03, nil, [0, 0x01, 0, 0, 0xFF, 0]),
      op(0x08, nil, [0, 0x1F, 0xFF, 0xFF, 0xFF, 0]),
      op(0x0A, nil, [0, 0x1F, 0xFF, 0xFF, 0xFF, 0]),
      op(0x12, nil, [0, 0x01, 0xFF, 0xFF, 0xFF, 0]),
      op(0x15, nil, [0, 0x10, 0, 0, 0xFF, 0]),
      op(0x1A, nil, [0, 0x08, 0xFF, 0xFF, 0xFF, 0]),
      op(0x1B, nil, [0, 0x01, 0, 0x0F, 0xF3, 0]),
      op(0x1E, nil, [0, 0, 0, 0, 0x03, 0]),
      op(0x25, nil, [0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0x01, 0]),
      op(0x28, nil, rw10), op(0x2A, nil, rw10),
      op(0x2E, nil, [0, 0x12, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0xFF, 0xFF, 0]),
      op(0x2F, nil, [0, 0x16, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0xFF, 0xFF, 0]),
      op(0x34, nil, [0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0xFF, 0xFF, 0]),
      op(0x35, nil, [0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0xFF, 0xFF, 0]),
      op(0x37, nil, [0, 0, 0x1F, 0, 0, 0, 0, 0xFF, 0xFF, 0]),
      op(0x41, nil, [0, 0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0xFF, 0xFF, 0]),
      op(0x55, nil, [0, 0x10, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0]),
      op(0x5A, nil, [0, 0x08, 0xFF, 0xFF, 0, 0, 0, 0xFF, 0xFF, 0]),
      op(0x88, nil, rw16), op(0x8A, nil, rw16),
      op(0x89, nil, [0, 0x18] + [UInt8](repeating: 0xFF, count: 8) + [0, 0, 0, 0xFF, 0, 0]),
      op(0x8B, nil, [0, 0x18] + [UInt8](repeating: 0xFF, count: 12) + [0, 0]),
      op(0x8E, nil, [0, 0x12] + [UInt8](repeating: 0xFF, count: 12) + [0, 0]),
      op(0x8F, nil, [0, 0x16] + [UInt8](repeating: 0xFF, count: 12) + [0, 0]),
      op(0x90, nil, [0, 0] + [UInt8](repeating: 0xFF, count: 12) + [0, 0]),
      op(0x91, nil, [0, 0] + [UInt8](repeating: 0xFF, count: 12) + [0, 0]),
      op(0x93, nil, [0, 0x09] + [UInt8](repeating: 0xFF, count: 12) + [0, 0]),
      op(0x9E, 0x10, [0, 0x1F] + [UInt8](repeating: 0, count: 8) + [0xFF, 0xFF, 0xFF, 0xFF, 0, 0]),
      op(0x9E, 0x12, [0, 0x1F] + [UInt8](repeating: 0xFF, count: 12) + [0, 0]),
      op(0xA0, nil, [0, 0, 0xFF, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0]),
      op(0xA3, 0x0C, [0, 0x1F, 0x87, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0]),
      op(0xA8, nil, rw12), op(0xAA, nil, rw12),
      op(0xAE, nil, [0, 0x12, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0]),
      op(0xAF, nil, [0, 0x16, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0]),
      op(0xB7, nil, [0, 0x1F, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0]),
    ]
    if thinProvisioned { ops.append(op(0x42, nil, [0, 0x01, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0])) }
    if !configuration.compareAndWrite { ops.removeAll { $0.opcode == 0x89 } }
    if configuration.maxAtomicTransferBlocks > 0 {
      ops.append(op(0x9C, nil, [0, 0x18] + [UInt8](repeating: 0xFF, count: 8) + [0, 0, 0xFF, 0xFF, 0, 0]))
    }
    return ops
  }

  func reportSupportedOperationCodes(_ cdb: Cdb, _ buffer: UnsafeMutableRawBufferPointer) -> ScsiResult {
    let rctd = cdb[2] & 0x80 != 0
    let options = cdb[2] & 0x07
    let alloc = Int(cdb.be32(6))
    let timeouts: [UInt8] = [0x00, 0x0A, 0, 0, 0, 0, 0, 0, 0, 0, 0, 30]  // 30 s recommended
    var out: [UInt8] = []
    switch options {
    case 0:
      var body: [UInt8] = []
      for op in supportedOperations {
        body.append(op.opcode)
        body.append(0)
        body.be16(op.serviceAction ?? 0)
        body.append(0)
        body.append((rctd ? 0x02 : 0) | (op.serviceAction != nil ? 0x01 : 0))
        body.be16(UInt16(op.usage.count))
        if rctd { body += timeouts }
      }
      out.be32(UInt32(body.count))
      out += body
    case 1, 2, 3:
      let opcode = cdb[3]
      let sa = cdb.be16(4)
      let candidates = supportedOperations.filter { $0.opcode == opcode }
      let match: SupportedOperation?
      if options == 1 {
        if candidates.contains(where: { $0.serviceAction != nil }) { return .invalidField(cdbByte: 2) }
        match = candidates.first
      } else if options == 2 {
        if !candidates.isEmpty && candidates.allSatisfy({ $0.serviceAction == nil }) {
          return .invalidField(cdbByte: 2)
        }
        match = candidates.first { $0.serviceAction == sa }
      } else {
        match = candidates.first { $0.serviceAction == nil || $0.serviceAction == sa }
      }
      if let m = match {
        out = [0, (rctd ? 0x80 : 0) | 0x03]
        out.be16(UInt16(m.usage.count))
        out += m.usage
        if rctd { out += timeouts }
      } else {
        out = [0, 0x01, 0, 0]
      }
    default:
      return .invalidField(cdbByte: 2)
    }
    return dataIn(out, buffer, allocationLength: alloc)
  }
}
