import CStorportMiniport
import Storport
import Synchronization

/// The request blocks of one C miniport adapter: for each request in the miniport, one block
/// holding the SRB in the layout the miniport registered for (SCSI_REQUEST_BLOCK, or
/// STORAGE_REQUEST_BLOCK when SrbTypeFlags asks for it), its sense buffer and its
/// `SrbExtension` (`SrbExtensionSize` bytes, zeroed for each request).
///
/// A block stays with its request from BuildIo to completion (so BuildIo's work in the
/// SrbExtension reaches StartIo), and after completion it keeps pointing at the request until
/// it is reused — so a second `RequestComplete` of the same SRB reaches the port's own
/// double-completion check (rule 72) instead of completing a stranger. Reuse is first-in,
/// first-out behind a reserve of free blocks, which keeps that window wide.
final class RequestBlockPool: @unchecked Sendable {
  /// Block header: (reserved), the request (retained until the block is reused), the state word.
  private static let headerBytes = 32
  static let senseBytes = 32
  /// Free blocks kept back before one is reused.
  private static let reserve = 8

  let extended: Bool
  let srbBytes: Int
  let srbExtensionBytes: Int
  private let blockBytes: Int
  private let senseOffset: Int
  private let extensionOffset: Int
  /// STOR_SCATTER_GATHER_LIST with one element: the host's data buffer is one device-visible
  /// range (identity mapping), 16 + 24 bytes.
  private let scatterGatherOffset: Int
  private let free = Locked<(blocks: [UnsafeMutableRawPointer], head: Int)>(([], 0))
  /// Blocks come from slabs of `slabBlocks`; a pointer is one of ours when it lies in a slab on a
  /// block boundary — checked without a lock: `slabCount` is published after the slab's base.
  private static let slabBlocks = 64
  private static let maxSlabs = 1024
  private let slabs: UnsafeMutablePointer<UInt>
  private let slabCount = Atomic<Int>(0)
  private let growing = Locked<[UnsafeMutableRawPointer]>([])

  init(extended: Bool, srbExtensionBytes: Int) {
    self.extended = extended
    srbBytes = (storport_srb_size(extended ? 1 : 0) + 15) & ~15
    self.srbExtensionBytes = srbExtensionBytes
    senseOffset = Self.headerBytes + srbBytes
    extensionOffset = senseOffset + Self.senseBytes
    scatterGatherOffset = extensionOffset + ((srbExtensionBytes + 15) & ~15)
    blockBytes = (scatterGatherOffset + 48 + 63) & ~63
    slabs = .allocate(capacity: Self.maxSlabs)
  }

  /// Whether `block` is the start of a block of this pool (no dereference).
  @inline(__always)
  private func owns(_ block: UnsafeMutableRawPointer) -> Bool {
    let a = UInt(bitPattern: block)
    let n = slabCount.load(ordering: .acquiring)
    let span = UInt(blockBytes * Self.slabBlocks)
    for i in 0..<n {
      let base = slabs[i]
      if a >= base && a < base + span { return (a - base) % UInt(blockBytes) == 0 }
    }
    return false
  }

  /// The block header's state word: the submission the block serves (`StorRequest.submissions`)
  /// shifted left once, and bit 0 set while the request is in the miniport. Claimed with a
  /// compare-exchange, so of two racing completions exactly one finishes the block.
  @inline(__always)
  private func state(_ block: UnsafeMutableRawPointer) -> UnsafeMutablePointer<UInt64> {
    (block + 16).assumingMemoryBound(to: UInt64.self)
  }

  /// The SRB of `request`'s block: the same one from BuildIo to completion of one submission
  /// (BuildIo's SrbExtension work reaches StartIo), a freshly built one for each submission. The
  /// block holds a reference to the request only while the request is in the miniport.
  func srb(for request: StorRequest) -> UnsafeMutableRawPointer {
    let live = UInt64(request.submissions) << 1 | 1
    let identity = UInt(bitPattern: Unmanaged.passUnretained(request).toOpaque())
    if request.miniportContext != 0, let old = UnsafeMutableRawPointer(bitPattern: request.miniportContext),
      owns(old),
      old.load(fromByteOffset: 8, as: UInt.self) == identity, storport_word_load(state(old)) == live
    {
      return old + Self.headerBytes
    }
    let block = take()
    ExternalMemory.acquire(UInt(bitPattern: block))
    block.storeBytes(
      of: UInt(bitPattern: Unmanaged.passRetained(request).toOpaque()), toByteOffset: 8, as: UInt.self)
    request.miniportContext = UInt(bitPattern: block)
    build(block, request)
    storport_word_store(state(block), live)
    return block + Self.headerBytes
  }

  /// The submission `srb`'s block serves and whether its request is in the miniport (no
  /// dereference of anything); nil when `srb` is not a request block of this pool.
  func state(ofSrb srb: UnsafeMutableRawPointer) -> (submission: UInt32, live: Bool)? {
    let block = srb - Self.headerBytes
    guard owns(block) else { return nil }
    let st = storport_word_load(state(block))
    return (UInt32(truncatingIfNeeded: st >> 1), st & 1 == 1)
  }

  /// The request of a live block — for routines the miniport calls while it holds the request
  /// (the block's reference keeps it alive); nil for anything else.
  func request(ofSrb srb: UnsafeMutableRawPointer) -> StorRequest? {
    guard let (_, live) = state(ofSrb: srb), live else { return nil }
    let r = (srb - Self.headerBytes).load(fromByteOffset: 8, as: UInt.self)
    return Unmanaged<StorRequest>.fromOpaque(UnsafeRawPointer(bitPattern: r)!).takeUnretainedValue()
  }

  /// Claims the completion of `srb`'s submission: the request, for exactly one caller while it
  /// is in the miniport (the caller then owns the block's reference: ``release(_:)``).
  func claimCompletion(srb: UnsafeMutableRawPointer, submission: UInt32) -> StorRequest? {
    let block = srb - Self.headerBytes
    let live = UInt64(submission) << 1 | 1
    guard storport_word_claim(state(block), live, live & ~1) != 0 else { return nil }
    let r = block.load(fromByteOffset: 8, as: UInt.self)
    return Unmanaged<StorRequest>.fromOpaque(UnsafeRawPointer(bitPattern: r)!).takeUnretainedValue()
  }

  /// Drops the reference a block held to `request`, after the completion that claimed it (by
  /// the request, not the block: the block may already serve another request).
  func release(_ request: StorRequest) {
    Unmanaged.passUnretained(request).release()
  }

  /// The port handed `request` back without the miniport's RequestComplete (a timeout, a stop,
  /// StorPortCompleteRequest): its block, if still live, is void — recycled, its reference
  /// dropped. A later RequestComplete of that SRB is then a completion of a completed request.
  func withdraw(_ request: StorRequest) {
    guard request.miniportContext != 0,
      let block = UnsafeMutableRawPointer(bitPattern: request.miniportContext),
      owns(block),
      block.load(fromByteOffset: 8, as: UInt.self)
        == UInt(bitPattern: Unmanaged.passUnretained(request).toOpaque()),
      claimCompletion(srb: block + Self.headerBytes, submission: request.submissions) != nil
    else { return }
    recycle(block)
    release(request)
  }

  /// After a successful ``claimCompletion(srb:submission:)``: copies what the miniport set
  /// (status bytes, transferred length, autosense) into the request and puts the block back
  /// (it keeps naming the request, for rule 72).
  func finish(srb: UnsafeMutableRawPointer, _ request: StorRequest) {
    let block = srb - Self.headerBytes
    var f = StorportSrbFields()
    storport_srb_read(srb, extended ? 1 : 0, &f)
    request.srbStatus = SrbStatus(rawValue: f.srbStatus & 0x3F)
    request.scsiStatus = f.scsiStatus
    let asked = request.dataTransferLength
    if f.dataTransferLength < asked {
      request.residual = Int(asked - f.dataTransferLength)
      request.dataTransferLength = f.dataTransferLength
    }
    if f.srbStatus & 0x80 != 0 {  // SRB_STATUS_AUTOSENSE_VALID
      let n = min(Int(f.senseInfoBufferLength), Self.senseBytes)
      withUnsafeMutableBytes(of: &request.senseBytes) { raw in
        raw.copyMemory(from: UnsafeRawBufferPointer(start: block + senseOffset, count: n))
      }
      request.senseLength = UInt8(n)
    } else {
      request.senseLength = 0
    }
    recycle(block)
  }

  private func recycle(_ block: UnsafeMutableRawPointer) {
    ExternalMemory.release(UInt(bitPattern: block))
    free.withLock { $0.blocks.append(block) }
  }

  /// StorPortGetScatterGatherList: the request's data buffer as device-visible ranges (one:
  /// the host address is the device address), or nil if `srb` is not a live request block.
  func scatterGatherList(srb: UnsafeMutableRawPointer) -> UnsafeMutableRawPointer? {
    guard let request = request(ofSrb: srb) else { return nil }
    let list = srb - Self.headerBytes + scatterGatherOffset
    let length = storport_srb_data_transfer_length(srb, extended ? 1 : 0)
    let buffer = storport_srb_data_buffer(srb, extended ? 1 : 0) ?? request.dataBuffer
    list.storeBytes(of: UInt32(length == 0 ? 0 : 1), as: UInt32.self)
    list.storeBytes(of: UInt64(0), toByteOffset: 8, as: UInt64.self)
    list.storeBytes(of: UInt64(UInt(bitPattern: buffer)), toByteOffset: 16, as: UInt64.self)
    list.storeBytes(of: length, toByteOffset: 24, as: UInt32.self)
    list.storeBytes(of: UInt64(0), toByteOffset: 32, as: UInt64.self)
    return list
  }

  private func take() -> UnsafeMutableRawPointer {
    if let b = free.withLock({ f -> UnsafeMutableRawPointer? in
      guard f.blocks.count - f.head > Self.reserve else { return nil }
      let b = f.blocks[f.head]
      f.head += 1
      if f.head > 1024, f.head * 2 > f.blocks.count {
        f.blocks.removeFirst(f.head)
        f.head = 0
      }
      return b
    }) {
      return b
    }
    // A new slab: its first block is returned, the rest join the free list.
    return growing.withLock { list -> UnsafeMutableRawPointer in
      let n = slabCount.load(ordering: .relaxed)
      precondition(
        n < Self.maxSlabs,
        "bug in swift-storport: more than \(Self.maxSlabs * Self.slabBlocks) request blocks in the miniport at once"
      )
      let slab = UnsafeMutableRawPointer.allocate(byteCount: blockBytes * Self.slabBlocks, alignment: 64)
      slab.initializeMemory(as: UInt8.self, repeating: 0, count: blockBytes * Self.slabBlocks)
      list.append(slab)
      slabs[n] = UInt(bitPattern: slab)
      slabCount.store(n + 1, ordering: .releasing)
      free.withLock { f in
        for i in 1..<Self.slabBlocks { f.blocks.append(slab + i * blockBytes) }
      }
      return slab
    }
  }

  private func build(_ block: UnsafeMutableRawPointer, _ r: StorRequest) {
    var f = StorportSrbFields()
    f.function = r.function.rawValue
    f.srbStatus = 0
    f.pathId = r.pathId
    f.targetId = r.targetId
    f.lun = r.lun
    f.queueTag = UInt8(truncatingIfNeeded: r.queueTag)
    f.queueAction = 0x20  // SRB_SIMPLE_TAG_REQUEST
    f.cdbLength = min(r.cdbLength, 16)
    f.senseInfoBufferLength = UInt8(Self.senseBytes)
    switch r.direction {
    case .none: f.srbFlags = 0
    case .dataIn: f.srbFlags = 0x40  // SRB_FLAGS_DATA_IN
    case .dataOut: f.srbFlags = 0x80  // SRB_FLAGS_DATA_OUT
    }
    f.srbFlags |= 0x2  // SRB_FLAGS_QUEUE_ACTION_ENABLE
    f.dataTransferLength = r.dataTransferLength
    f.timeOutValue = r.timeoutSeconds == 0 ? 10 : r.timeoutSeconds
    f.requestTag = r.queueTag
    f.dataBuffer = r.dataTransferLength == 0 ? nil : r.dataBuffer
    f.senseInfoBuffer = block + senseOffset
    f.originalRequest = UnsafeMutableRawPointer(Unmanaged.passUnretained(r).toOpaque())
    let ext = block + extensionOffset
    if srbExtensionBytes > 0 { ext.initializeMemory(as: UInt8.self, repeating: 0, count: srbExtensionBytes) }
    f.srbExtension = srbExtensionBytes > 0 ? ext : nil
    withUnsafeBytes(of: r.cdbBytes) { cdb in
      withUnsafeMutableBytes(of: &f.cdb) {
        $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: cdb[0..<16]))
      }
    }
    storport_srb_build(block + Self.headerBytes, extended ? 1 : 0, &f)
  }

  deinit {
    for slab in growing.withLock({ $0 }) {
      for i in 0..<Self.slabBlocks where storport_word_load(state(slab + i * blockBytes)) & 1 == 1 {
        let r = (slab + i * blockBytes).load(fromByteOffset: 8, as: UInt.self)
        Unmanaged<StorRequest>.fromOpaque(UnsafeRawPointer(bitPattern: r)!).release()
      }
      slab.deallocate()
    }
    slabs.deallocate()
  }
}
