import Storport

extension NvmeController {
  @inline(__always)
  private func pointer(_ prp: UInt64) -> UnsafeMutableRawPointer? {
    UnsafeMutableRawPointer(bitPattern: UInt(prp))
  }

  // MARK: Admin

  func executeAdmin(_ c: NvmeCommand) -> (NvmeStatus, UInt32) {
    switch c.opcode {
    case NvmeOpcode.identify: return identify(c)
    case NvmeOpcode.setFeatures, NvmeOpcode.getFeatures:
      guard c.cdw10 & 0xFF == 0x07 else { return (.invalidField, 0) }  // Number of Queues only
      let n = UInt32(configuration.ioQueues - 1)
      return (.success, n | n << 16)
    case NvmeOpcode.createCq:
      let qid = Int(c.cdw10 & 0xFFFF)
      let size = Int(c.cdw10 >> 16) + 1
      guard qid > 0, qid < cqs.count else { return (.invalidQueueIdentifier, 0) }
      guard size >= 2, size <= configuration.maxQueueEntries, c.prp1 != 0 else {
        return (.invalidQueueSize, 0)
      }
      return cqs.withLock(qid) { q -> (NvmeStatus, UInt32) in
        guard !q.exists else { return (.invalidQueueIdentifier, 0) }
        q = CompletionQueue(
          exists: true, base: c.prp1, size: size, vector: c.cdw11 >> 16, interruptsEnabled: c.cdw11 & 0x2 != 0
        )
        return (.success, 0)
      }
    case NvmeOpcode.createSq:
      let qid = Int(c.cdw10 & 0xFFFF)
      let size = Int(c.cdw10 >> 16) + 1
      let cqid = Int(c.cdw11 >> 16)
      guard qid > 0, qid < sqs.count else { return (.invalidQueueIdentifier, 0) }
      guard size >= 2, size <= configuration.maxQueueEntries, c.prp1 != 0 else {
        return (.invalidQueueSize, 0)
      }
      guard cqid > 0, cqid < cqs.count, cqs.withLock(cqid, { $0.exists }) else {
        return (NvmeStatus(type: 1, code: 0x00, doNotRetry: true), 0)  // completion queue invalid
      }
      return sqs.withLock(qid) { q -> (NvmeStatus, UInt32) in
        guard !q.exists else { return (.invalidQueueIdentifier, 0) }
        q = SubmissionQueue(
          exists: true, base: c.prp1, size: size, cqid: cqid, rng: q.rng,
          inFlight: Array(repeating: 0, count: size))
        return (.success, 0)
      }
    case NvmeOpcode.deleteSq, NvmeOpcode.deleteCq:
      let qid = Int(c.cdw10 & 0xFFFF)
      guard qid > 0, qid < sqs.count else { return (.invalidQueueIdentifier, 0) }
      if c.opcode == NvmeOpcode.deleteSq {
        // Deleting a queue aborts its commands: the device lets go of their buffers.
        let held = sqs.withLock(qid) { q -> [UInt64] in
          let held = (q.inFlight + Array(q.inFlightOther.values)).filter { $0 > 1 }.map { $0 & ~1 }
          q = SubmissionQueue(rng: q.rng)
          return held
        }
        for b in held { link?.giveBack(UnsafeRawPointer(bitPattern: UInt(b))) }
      } else {
        cqs.withLock(qid) { $0 = CompletionQueue() }
      }
      return (.success, 0)
    case NvmeOpcode.abort:
      return (.success, 1)  // bit 0 set: the command was not aborted
    default:
      return (.invalidOpcode, 0)
    }
  }

  private func identify(_ c: NvmeCommand) -> (NvmeStatus, UInt32) {
    guard let out = pointer(c.prp1) else { return (.invalidField, 0) }
    out.initializeMemory(as: UInt8.self, repeating: 0, count: 4096)
    func ascii(_ s: String, at: Int, width: Int) {
      let b = Array(s.utf8.prefix(width))
      for i in 0..<width {
        out.storeBytes(of: i < b.count ? b[i] : 0x20, toByteOffset: at + i, as: UInt8.self)
      }
    }
    switch c.cdw10 & 0xFF {
    case 0x01:  // controller
      out.storeBytes(of: UInt16(0x1B36), toByteOffset: 0, as: UInt16.self)  // VID
      ascii(configuration.serial, at: 4, width: 20)
      ascii(configuration.model, at: 24, width: 40)
      ascii("1.0", at: 64, width: 8)
      out.storeBytes(of: UInt8(5), toByteOffset: 77, as: UInt8.self)  // MDTS: 2^5 × 4 KiB = maximumTransferBytes
      out.storeBytes(of: UInt8(0x66), toByteOffset: 512, as: UInt8.self)  // SQES
      out.storeBytes(of: UInt8(0x44), toByteOffset: 513, as: UInt8.self)  // CQES
      out.storeBytes(of: UInt32(1), toByteOffset: 516, as: UInt32.self)  // NN
      out.storeBytes(of: UInt16(0x0001 | 0x0004 | 0x0008), toByteOffset: 520, as: UInt16.self)  // ONCS
      out.storeBytes(of: UInt16(0x0001), toByteOffset: 522, as: UInt16.self)  // FUSES: Compare and Write
      out.storeBytes(of: UInt8(1), toByteOffset: 525, as: UInt8.self)  // VWC
      return (.success, 0)
    case 0x00:  // namespace 1
      guard c.namespaceId == 1 else { return (.invalidNamespace, 0) }
      out.storeBytes(of: store.blockCount, toByteOffset: 0, as: UInt64.self)  // NSZE
      out.storeBytes(of: store.blockCount, toByteOffset: 8, as: UInt64.self)  // NCAP
      out.storeBytes(of: store.blockCount, toByteOffset: 16, as: UInt64.self)  // NUSE
      // NSFEAT: THINP when the store can deallocate; NSABP: NAWUN below is valid.
      out.storeBytes(of: UInt8(store.holdsData ? 1 : 0) | 0x02, toByteOffset: 24, as: UInt8.self)
      // NAWUN (0's based): a command of up to one maximum transfer (MDTS) is atomic against
      // every other — its blocks' stripes are held while it runs (NvmeController+Fused.swift).
      let atomicBlocks = max(1, Self.maximumTransferBytes / store.blockSize)
      out.storeBytes(of: UInt16(atomicBlocks - 1), toByteOffset: 34, as: UInt16.self)  // NAWUN
      let lbads = UInt32(store.blockSize.trailingZeroBitCount)
      out.storeBytes(of: lbads << 16, toByteOffset: 128, as: UInt32.self)  // LBAF0
      out.storeBytes(of: UInt8(store.isReadOnly ? 1 : 0), toByteOffset: 99, as: UInt8.self)  // NSATTR WP
      return (.success, 0)
    default:
      return (.invalidField, 0)
    }
  }

  // MARK: Data transfer (PRP1, PRP2, PRP lists)

  /// The memory page size in force (CC.MPS: 4 KiB << MPS).
  var memoryPageSize: Int { 1 << Int(pageShift.load(ordering: .acquiring)) }

  /// The host ranges a command's PRPs name for `bytes` bytes (NVMe base specification §4.3):
  /// PRP1 (any offset within its page), then whole pages — PRP2 itself when two entries
  /// suffice, otherwise PRP2 points at a PRP list whose last entry chains to the next list page.
  /// nil for a malformed list (a zero entry, an offset in a later entry, a list past 1024 pages).
  func prpSegments(_ c: NvmeCommand, bytes: Int) -> [(UnsafeMutableRawPointer, Int)]? {
    let page = memoryPageSize
    guard c.prp1 != 0, let first = pointer(c.prp1) else { return nil }
    let firstLength = min(bytes, page - Int(c.prp1 % UInt64(page)))
    var segments = [(first, firstLength)]
    var remaining = bytes - firstLength
    if remaining == 0 { return segments }
    if remaining <= page {
      guard c.prp2 != 0, c.prp2 % UInt64(page) == 0, let second = pointer(c.prp2) else { return nil }
      segments.append((second, remaining))
      return segments
    }
    guard c.prp2 != 0, c.prp2 % 8 == 0, var list = pointer(c.prp2) else { return nil }
    var entriesLeftInPage = (page - Int(c.prp2 % UInt64(page))) / 8
    var pages = 0
    while remaining > 0 {
      pages += 1
      guard pages <= 1024 else { return nil }
      if entriesLeftInPage == 1 && remaining > page {
        // The last entry of a list page chains to the next list page.
        let next = list.load(as: UInt64.self)
        guard next != 0, next % 8 == 0, let chained = pointer(next) else { return nil }
        list = chained
        entriesLeftInPage = page / 8
        continue
      }
      let entry = list.load(as: UInt64.self)
      guard entry != 0, entry % UInt64(page) == 0, let p = pointer(entry) else { return nil }
      let n = min(remaining, page)
      segments.append((p, n))
      remaining -= n
      list += 8
      entriesLeftInPage -= 1
    }
    return segments
  }

  /// Runs `body` on one contiguous buffer holding the command's data: PRP1 itself when the
  /// ranges follow one another in host memory (the common case here, no copy), otherwise a
  /// bounce buffer gathered from (`.toDevice`) or scattered to (`.fromDevice`) the ranges.
  func withTransfer(
    _ c: NvmeCommand, bytes: Int, toDevice: Bool, _ body: (UnsafeMutableRawPointer) -> NvmeStatus
  ) -> NvmeStatus {
    // One page or less from PRP1 (the common small transfer): no segment list to build.
    let page = memoryPageSize
    if c.prp1 != 0, bytes <= page - Int(c.prp1 % UInt64(page)), let first = pointer(c.prp1) {
      return body(first)
    }
    guard let segments = prpSegments(c, bytes: bytes) else { return .dataTransferError }
    var contiguous = true
    var end = segments[0].0 + segments[0].1
    for (p, n) in segments.dropFirst() {
      if p != end {
        contiguous = false
        break
      }
      end = p + n
    }
    if contiguous { return body(segments[0].0) }
    let bounce = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 4096)
    defer { bounce.deallocate() }
    var offset = 0
    if toDevice {
      for (p, n) in segments {
        (bounce + offset).copyMemory(from: p, byteCount: n)
        offset += n
      }
    }
    let status = body(bounce)
    if !toDevice && status.isSuccess {
      for (p, n) in segments {
        p.copyMemory(from: bounce + offset, byteCount: n)
        offset += n
      }
    }
    return status
  }

  // MARK: I/O

  /// Executes an I/O command. Commands that change blocks hold those blocks' write stripes
  /// (``withBlocksExcluded(_:_:_:)``) unless the caller — a fused operation — already does.
  func executeIo(_ c: NvmeCommand, blocksExcluded: Bool = false) -> (NvmeStatus, UInt32) {
    if c.opcode == NvmeOpcode.flush {
      do { try store.flush() } catch { return (.writeFault, 0) }
      return (.success, 0)
    }
    guard c.namespaceId == 1 else { return (.invalidNamespace, 0) }
    // A write-protected namespace refuses every command that would change it.
    if store.isReadOnly
      && [NvmeOpcode.write, NvmeOpcode.writeZeroes, NvmeOpcode.datasetManagement].contains(c.opcode)
    {
      return (.namespaceWriteProtected, 0)
    }
    if c.opcode == NvmeOpcode.datasetManagement { return datasetManagement(c) }
    let slba = UInt64(c.cdw11) << 32 | UInt64(c.cdw10)
    let nlb = Int(c.cdw12 & 0xFFFF) + 1
    guard slba < store.blockCount, UInt64(nlb) <= store.blockCount - slba else { return (.lbaOutOfRange, 0) }
    // Checked first: the stripes of a range past the end are never computed.
    // Every command that touches blocks holds their stripes while it runs: writes never
    // interleave, and a read never sees part of a write (NAWUN covers a whole transfer).
    if !blocksExcluded {
      return withBlocksExcluded(slba, nlb) { executeIo(c, blocksExcluded: true) }
    }
    let bytes = nlb * store.blockSize
    switch c.opcode {
    case NvmeOpcode.read:
      return (
        withTransfer(c, bytes: bytes, toDevice: false) { buffer in
          do { try store.read(lba: slba, count: nlb, into: buffer) } catch { return .unrecoveredReadError }
          return .success
        }, 0
      )
    case NvmeOpcode.write:
      let fua = c.cdw12 & (1 << 30) != 0
      return (
        withTransfer(c, bytes: bytes, toDevice: true) { buffer in
          do { try store.write(lba: slba, count: nlb, from: buffer, forceUnitAccess: fua) } catch {
            return .writeFault
          }
          return .success
        }, 0
      )
    case NvmeOpcode.compare:
      guard store.holdsData else { return (.success, 0) }
      return (
        withTransfer(c, bytes: bytes, toDevice: true) { buffer in
          let media = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 4096)
          defer { media.deallocate() }
          do { try store.read(lba: slba, count: nlb, into: media) } catch { return .unrecoveredReadError }
          return memcmp(media, buffer, bytes) == 0 ? .success : .compareFailure
        }, 0
      )
    case NvmeOpcode.writeZeroes:
      do {
        if c.cdw12 & (1 << 25) != 0 {
          try store.deallocate(lba: slba, count: nlb)
        } else {
          let zeros = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 4096)
          defer { zeros.deallocate() }
          zeros.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
          try store.write(lba: slba, count: nlb, from: zeros, forceUnitAccess: false)
        }
      } catch { return (.writeFault, 0) }
      return (.success, 0)
    default:
      return (.invalidOpcode, 0)
    }
  }

  private func datasetManagement(_ c: NvmeCommand) -> (NvmeStatus, UInt32) {
    guard c.cdw11 & 0x4 != 0 else { return (.success, 0) }  // only AD (deallocate) acts
    guard let ranges = pointer(c.prp1) else { return (.dataTransferError, 0) }
    let count = Int(c.cdw10 & 0xFF) + 1
    for i in 0..<count {
      let length = ranges.load(fromByteOffset: i * 16 + 4, as: UInt32.self)
      let slba = ranges.load(fromByteOffset: i * 16 + 8, as: UInt64.self)
      guard slba <= store.blockCount, UInt64(length) <= store.blockCount - slba else {
        return (.lbaOutOfRange, 0)
      }
      if length > 0 {
        let ok = withBlocksExcluded(slba, Int(length)) { () -> Bool in
          do { try store.deallocate(lba: slba, count: Int(length)) } catch { return false }
          return true
        }
        guard ok else { return (.writeFault, 0) }
      }
    }
    return (.success, 0)
  }
}

#if canImport(Glibc)
  import Glibc
#endif
