import Storport
import StorportDevices

/// One I/O queue pair of the NVMe miniport: submission and completion rings in host memory,
/// the command slots (command ID → SRB), and the per-queue STOR_DPC whose DpcLock guards all
/// of it. StartIo (on its channel) and the queue's DPC take that lock; the watchdog never does
/// (HwStorTimer may not take DPC locks — rule 9): it talks to the queue only through the
/// interlocked words below.
final class NvmeQueue: @unchecked Sendable {
  let qid: Int
  let depth: Int
  let sq: UnsafeMutableRawPointer
  let cq: UnsafeMutableRawPointer
  let dpc = StorDpc()
  /// Per-slot Dataset Management range lists (UNMAP translation), 4 KiB each.
  let rangeLists: UnsafeMutableRawPointer
  /// Per-slot pattern pages (WRITE SAME of a non-zero block: the block repeated over one
  /// 4 KiB page that every PRP entry of the Write names), 4 KiB each; committed on first use.
  let patternPages: UnsafeMutableRawPointer

  // Guarded by dpc's DpcLock. The lock, not Swift, is what serialises these (as in a C
  // miniport), so they carry no dynamic exclusivity checks: under the lock they would never
  // fire, and they cost more than the rest of a command's submission.
  @exclusivity(unchecked) var sqTail = 0
  @exclusivity(unchecked) var cqHead = 0
  @exclusivity(unchecked) var phase = true
  @exclusivity(unchecked) var slots: [StorRequest?]
  @exclusivity(unchecked) var freeCids: [UInt16]
  /// Scratch lists reused by the queue's DPC (a STOR_DPC never runs concurrently with itself,
  /// so one pair per queue is enough; no allocation per DPC run).
  @exclusivity(unchecked) var completedScratch: [(StorRequest, NvmeStatus)] = []
  @exclusivity(unchecked) var requeueScratch: [StorRequest] = []

  // Shared with the watchdog (interlocked only).
  /// Commands submitted and not yet completed.
  let outstanding = InterlockedValue()
  /// Platform time of the last completion, or of the submission that made the queue busy.
  let lastProgress = InterlockedValue()
  /// 1 while the watchdog wants outstanding requests failed back to the port (reset).
  let flushRequested = InterlockedValue()
  /// 1 while the controller queue pair exists: DPCs leave a queue that is not live alone, so
  /// the timer may rebuild its rings during a reset without the DpcLock (which HwStorTimer may
  /// not take).
  let live = InterlockedValue()

  init(qid: Int, depth: Int) {
    self.qid = qid
    self.depth = depth
    sq = .allocate(byteCount: depth * 64, alignment: 4096)
    cq = .allocate(byteCount: depth * 16, alignment: 4096)
    rangeLists = .allocate(byteCount: depth * 4096, alignment: 4096)
    patternPages = .allocate(byteCount: depth * 4096, alignment: 4096)
    slots = [StorRequest?](repeating: nil, count: depth)
    completedScratch.reserveCapacity(depth)
    requeueScratch.reserveCapacity(depth)
    freeCids = (0..<UInt16(depth - 1)).reversed().map { $0 }
    resetRings()
  }

  deinit {
    sq.deallocate()
    cq.deallocate()
    rangeLists.deallocate()
    patternPages.deallocate()
  }

  /// Zeroes the rings (controller reset): the device starts again at index 0, phase 1.
  func resetRings() {
    sq.initializeMemory(as: UInt8.self, repeating: 0, count: depth * 64)
    cq.initializeMemory(as: UInt8.self, repeating: 0, count: depth * 16)
    sqTail = 0
    cqHead = 0
    phase = true
  }

  var address: (sq: UInt64, cq: UInt64) { (UInt64(UInt(bitPattern: sq)), UInt64(UInt(bitPattern: cq))) }
}

/// The admin queue, used only from HwStorTimer (serialised by the StartIo lock it holds).
final class NvmeAdminQueue: @unchecked Sendable {
  let depth = 32
  let sq: UnsafeMutableRawPointer
  let cq: UnsafeMutableRawPointer
  let data: UnsafeMutableRawPointer
  var sqTail = 0
  var cqHead = 0
  var phase = true
  var nextCid: UInt16 = 1
  var pendingCid: UInt16?

  init() {
    sq = .allocate(byteCount: depth * 64, alignment: 4096)
    cq = .allocate(byteCount: depth * 16, alignment: 4096)
    data = .allocate(byteCount: 4096, alignment: 4096)
    reset()
  }

  deinit {
    sq.deallocate()
    cq.deallocate()
    data.deallocate()
  }

  func reset() {
    sq.initializeMemory(as: UInt8.self, repeating: 0, count: depth * 64)
    cq.initializeMemory(as: UInt8.self, repeating: 0, count: depth * 16)
    sqTail = 0
    cqHead = 0
    phase = true
    pendingCid = nil
  }

  /// Writes a command and rings the doorbell.
  func submit(_ c: NvmeCommand, to device: NvmeController) {
    var c = c
    c.commandId = nextCid
    nextCid = nextCid == 0xFFFF ? 1 : nextCid + 1
    pendingCid = c.commandId
    c.store(to: sq + sqTail * 64)
    sqTail = (sqTail + 1) % depth
    device.write32(NvmeRegister.submissionTail(0), UInt32(sqTail))
  }

  /// The completion of the pending command, if it has arrived.
  func poll(_ device: NvmeController) -> NvmeCompletion? {
    let e = NvmeCompletion.load(from: cq + cqHead * 16)
    guard e.phase == phase else { return nil }
    cqHead += 1
    if cqHead == depth {
      cqHead = 0
      phase.toggle()
    }
    device.write32(NvmeRegister.completionHead(0), UInt32(cqHead))
    guard e.commandId == pendingCid else { return poll(device) }
    pendingCid = nil
    return e
  }
}
