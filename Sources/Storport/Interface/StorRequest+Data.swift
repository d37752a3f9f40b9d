/// Direction of a request's data transfer (`SRB_FLAGS_DATA_IN` / `_OUT`).
public enum DataDirection: UInt8, Sendable {
  case none, dataIn, dataOut
}

/// A pool of requests with their data buffers, allocated once: the hot path takes and gives
/// back, never allocates. Buffers are 4096-byte aligned (O_DIRECT-safe).
public final class StorRequestPool: @unchecked Sendable {
  public let bufferBytes: Int
  private let free: Locked<[StorRequest]>
  private let all: [StorRequest]

  public init(count: Int, bufferBytes: Int) {
    self.bufferBytes = bufferBytes
    all = (0..<count).map { i in
      let r = StorRequest(tag: UInt64(i))
      r.ownedBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bufferBytes, 1), alignment: 4096)
      r.ownedBuffer!.initializeMemory(as: UInt8.self, repeating: 0)
      return r
    }
    free = Locked(all.reversed())
  }

  deinit { for r in all { r.ownedBuffer?.deallocate() } }

  /// A request (reset, its buffer attached), or nil if all are in use.
  public func take() -> StorRequest? {
    guard let r = free.withLock({ $0.popLast() }) else { return nil }
    r.reset()
    return r
  }

  /// Calls `body` with each request's index and data buffer (e.g. to fill write data once,
  /// before the pool is used).
  public func withEachBuffer(_ body: (Int, UnsafeMutableRawBufferPointer) -> Void) {
    for (i, r) in all.enumerated() { if let b = r.ownedBuffer { body(i, b) } }
  }

  /// Returns a completed request to the pool.
  public func give(_ r: StorRequest) { free.withLock { $0.append(r) } }

  public var available: Int { free.withLock { $0.count } }
}
