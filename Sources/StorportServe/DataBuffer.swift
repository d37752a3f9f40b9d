/// Host memory for one client request — what the miniport sees as the request's data buffer
/// (the SRB's `DataBuffer`) — aligned to 4 KiB for O_DIRECT backings.
///
/// A buffer made for a read is zeroed first: a miniport that reports more bytes transferred
/// than it wrote hands the client zeroes, never bytes of another request.
///
/// `@unchecked Sendable`: the miniport (or device) writes it only before the request completes,
/// front ends read it only after, and the completion hand-off (the port's, then the event
/// loop's task queue) orders the two.
final class DataBuffer: @unchecked Sendable {
  let pointer: UnsafeMutableRawPointer
  /// Bytes, ≥ 0 (a buffer of none still owns one byte, so `pointer` is never dangling).
  let count: Int

  /// `bytes` zeroed bytes.
  init(bytes: Int) {
    precondition(bytes >= 0, "bug in swift-storport: a buffer of \(bytes) bytes")
    count = bytes
    pointer = .allocate(byteCount: max(bytes, 1), alignment: 4096)
    pointer.initializeMemory(as: UInt8.self, repeating: 0, count: max(bytes, 1))
  }

  /// A copy of `data` (a write's payload): no zeroing first. `alignment`: 4 KiB for what a
  /// miniport transfers; less for answers the target makes itself (REPORT LUNS, reservations).
  init(copying data: [UInt8], alignment: Int = 4096) {
    count = data.count
    pointer = .allocate(byteCount: max(data.count, 1), alignment: alignment)
    data.withUnsafeBytes { bytes in
      if let base = bytes.baseAddress { pointer.copyMemory(from: base, byteCount: bytes.count) }
    }
  }

  deinit { pointer.deallocate() }
}
