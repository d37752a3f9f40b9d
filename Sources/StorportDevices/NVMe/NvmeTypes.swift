/// NVMe register offsets (NVMe base specification, controller registers).
public enum NvmeRegister {
  public static let cap = 0x00  // 64-bit: MQES, CQR, TO, DSTRD, CSS, MPSMIN/MAX
  public static let vs = 0x08
  public static let intms = 0x0C
  public static let intmc = 0x10
  public static let cc = 0x14
  public static let csts = 0x1C
  public static let aqa = 0x24
  public static let asq = 0x28  // 64-bit
  public static let acq = 0x30  // 64-bit
  public static let doorbellBase = 0x1000
  /// Doorbell offset of submission queue `qid` tail (stride 4 bytes, DSTRD = 0).
  public static func submissionTail(_ qid: Int) -> Int { doorbellBase + (2 * qid) * 4 }
  /// Doorbell offset of completion queue `qid` head.
  public static func completionHead(_ qid: Int) -> Int { doorbellBase + (2 * qid + 1) * 4 }
}

/// CC and CSTS bits.
public enum NvmeBits {
  public static let ccEnable: UInt32 = 1
  public static let cstsReady: UInt32 = 1
  public static let cstsFatal: UInt32 = 1 << 1
  /// CC with IOSQES = 6 (64-byte SQE), IOCQES = 4 (16-byte CQE), EN.
  public static let ccDefault: UInt32 = (6 << 16) | (4 << 20)
}

/// A 64-byte submission queue entry.
public struct NvmeCommand: Sendable, Equatable {
  public var opcode: UInt8 = 0
  /// FUSE (CDW0 bits 9:8): 0 normal, ``NvmeFuse/first`` or ``NvmeFuse/second`` of a fused
  /// operation (Compare then Write, executed atomically: NVMe base specification §3.4.2).
  public var fuse: UInt8 = 0
  public var commandId: UInt16 = 0
  public var namespaceId: UInt32 = 0
  public var prp1: UInt64 = 0
  public var prp2: UInt64 = 0
  /// Command dwords 10-15.
  public var cdw10: UInt32 = 0
  public var cdw11: UInt32 = 0
  public var cdw12: UInt32 = 0
  public var cdw13: UInt32 = 0
  public var cdw14: UInt32 = 0
  public var cdw15: UInt32 = 0

  public init() {}

  public func store(to p: UnsafeMutableRawPointer) {
    p.initializeMemory(as: UInt8.self, repeating: 0, count: 64)
    p.storeBytes(
      of: UInt32(opcode) | UInt32(fuse & 3) << 8 | UInt32(commandId) << 16, toByteOffset: 0, as: UInt32.self)
    p.storeBytes(of: namespaceId, toByteOffset: 4, as: UInt32.self)
    p.storeBytes(of: prp1, toByteOffset: 24, as: UInt64.self)
    p.storeBytes(of: prp2, toByteOffset: 32, as: UInt64.self)
    for (i, v) in [cdw10, cdw11, cdw12, cdw13, cdw14, cdw15].enumerated() {
      p.storeBytes(of: v, toByteOffset: 40 + 4 * i, as: UInt32.self)
    }
  }

  public static func load(from p: UnsafeRawPointer) -> NvmeCommand {
    var c = NvmeCommand()
    let dw0 = p.load(fromByteOffset: 0, as: UInt32.self)
    c.opcode = UInt8(dw0 & 0xFF)
    c.fuse = UInt8((dw0 >> 8) & 3)
    c.commandId = UInt16(dw0 >> 16)
    c.namespaceId = p.load(fromByteOffset: 4, as: UInt32.self)
    c.prp1 = p.load(fromByteOffset: 24, as: UInt64.self)
    c.prp2 = p.load(fromByteOffset: 32, as: UInt64.self)
    c.cdw10 = p.load(fromByteOffset: 40, as: UInt32.self)
    c.cdw11 = p.load(fromByteOffset: 44, as: UInt32.self)
    c.cdw12 = p.load(fromByteOffset: 48, as: UInt32.self)
    c.cdw13 = p.load(fromByteOffset: 52, as: UInt32.self)
    c.cdw14 = p.load(fromByteOffset: 56, as: UInt32.self)
    c.cdw15 = p.load(fromByteOffset: 60, as: UInt32.self)
    return c
  }
}

/// A 16-byte completion queue entry.
public struct NvmeCompletion: Sendable, Equatable {
  public var result: UInt32 = 0
  public var sqHead: UInt16 = 0
  public var sqId: UInt16 = 0
  public var commandId: UInt16 = 0
  public var phase: Bool = false
  public var status: NvmeStatus = .success

  public init() {}

  public func store(to p: UnsafeMutableRawPointer) {
    p.storeBytes(of: result, toByteOffset: 0, as: UInt32.self)
    p.storeBytes(of: UInt32(0), toByteOffset: 4, as: UInt32.self)
    p.storeBytes(of: UInt32(sqHead) | UInt32(sqId) << 16, toByteOffset: 8, as: UInt32.self)
    // Written last: the phase bit makes the entry visible.
    let dw3 = UInt32(commandId) | (phase ? 1 << 16 : 0) | UInt32(status.rawValue) << 17
    p.storeBytes(of: dw3, toByteOffset: 12, as: UInt32.self)
  }

  public static func load(from p: UnsafeRawPointer) -> NvmeCompletion {
    var c = NvmeCompletion()
    c.result = p.load(fromByteOffset: 0, as: UInt32.self)
    let dw2 = p.load(fromByteOffset: 8, as: UInt32.self)
    c.sqHead = UInt16(dw2 & 0xFFFF)
    c.sqId = UInt16(dw2 >> 16)
    let dw3 = p.load(fromByteOffset: 12, as: UInt32.self)
    c.commandId = UInt16(dw3 & 0xFFFF)
    c.phase = dw3 & (1 << 16) != 0
    c.status = NvmeStatus(rawValue: UInt16((dw3 >> 17) & 0x7FFF))
    return c
  }
}

/// Status field of a CQE: SC (bits 7:0), SCT (10:8), M, DNR (14).
public struct NvmeStatus: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
  public let rawValue: UInt16
  public init(rawValue: UInt16) { self.rawValue = rawValue }
  public init(type: UInt8, code: UInt8, doNotRetry: Bool = false) {
    rawValue = UInt16(code) | UInt16(type & 7) << 8 | (doNotRetry ? 1 << 14 : 0)
  }
  public var code: UInt8 { UInt8(rawValue & 0xFF) }
  public var type: UInt8 { UInt8((rawValue >> 8) & 7) }
  public var isSuccess: Bool { rawValue & 0x7FF == 0 }

  public static let success = NvmeStatus(rawValue: 0)
  public static let invalidOpcode = NvmeStatus(type: 0, code: 0x01, doNotRetry: true)
  public static let invalidField = NvmeStatus(type: 0, code: 0x02, doNotRetry: true)
  public static let dataTransferError = NvmeStatus(type: 0, code: 0x04)
  /// The other command of a fused operation failed (the Write after a failed Compare).
  public static let abortedFailedFused = NvmeStatus(type: 0, code: 0x05)
  /// A fused command whose partner was not the adjacent entry of the same doorbell write.
  public static let abortedMissingFused = NvmeStatus(type: 0, code: 0x06)
  public static let abortedByRequest = NvmeStatus(type: 0, code: 0x07)
  public static let abortedSqDeletion = NvmeStatus(type: 0, code: 0x08)
  public static let invalidNamespace = NvmeStatus(type: 0, code: 0x0B, doNotRetry: true)
  public static let lbaOutOfRange = NvmeStatus(type: 0, code: 0x80, doNotRetry: true)
  /// A command that would change a write-protected namespace (Identify Namespace NSATTR bit 0).
  public static let namespaceWriteProtected = NvmeStatus(type: 0, code: 0x20, doNotRetry: true)
  public static let invalidQueueIdentifier = NvmeStatus(type: 1, code: 0x01, doNotRetry: true)
  public static let invalidQueueSize = NvmeStatus(type: 1, code: 0x02, doNotRetry: true)
  public static let compareFailure = NvmeStatus(type: 2, code: 0x85, doNotRetry: true)
  public static let writeFault = NvmeStatus(type: 2, code: 0x80)
  public static let unrecoveredReadError = NvmeStatus(type: 2, code: 0x81)

  public var description: String { "SCT \(type) SC 0x\(String(code, radix: 16))" }
}

/// FUSE values (CDW0 bits 9:8).
public enum NvmeFuse {
  /// First command of a fused operation (the Compare).
  public static let first: UInt8 = 1
  /// Second command of a fused operation (the Write), the next entry of the same queue.
  public static let second: UInt8 = 2
}

/// Opcodes.
public enum NvmeOpcode {
  // Admin
  public static let deleteSq: UInt8 = 0x00
  public static let createSq: UInt8 = 0x01
  public static let deleteCq: UInt8 = 0x04
  public static let createCq: UInt8 = 0x05
  public static let identify: UInt8 = 0x06
  public static let abort: UInt8 = 0x08
  public static let setFeatures: UInt8 = 0x09
  public static let getFeatures: UInt8 = 0x0A
  // I/O
  public static let flush: UInt8 = 0x00
  public static let write: UInt8 = 0x01
  public static let read: UInt8 = 0x02
  public static let compare: UInt8 = 0x05
  public static let writeZeroes: UInt8 = 0x08
  public static let datasetManagement: UInt8 = 0x09
}
