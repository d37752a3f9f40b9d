import NIOCore

/// Wire buffers for replies that leave together (a batch of completions): small replies share a
/// buffer — one allocation and one iovec for a burst — and a buffer is closed before a reply
/// would take it past ``limit`` bytes, so a burst of large reads is never copied into one buffer
/// the size of all of them (a single reply larger than the limit gets a buffer of its own).
struct WireBuffers {
  /// The most bytes replies share one buffer up to.
  static let limit = 256 * 1024

  private let allocator: ByteBufferAllocator
  private var closed: [ByteBuffer] = []
  private var open = ByteBuffer()
  /// Estimated bytes of the replies still to come: the size of the next buffer opened.
  private var left: Int

  /// `estimatedBytes`: about how many bytes all the replies will take (sizes the buffers).
  init(estimatedBytes: Int, allocator: ByteBufferAllocator = ByteBufferAllocator()) {
    self.allocator = allocator
    left = max(0, estimatedBytes)
  }

  /// Appends one reply of about `estimate` bytes, which `write` puts in the buffer it is lent.
  mutating func append(estimate: Int, _ write: (inout ByteBuffer) -> Void) {
    if open.readableBytes > 0 && open.readableBytes + estimate > Self.limit { close() }
    if open.readableBytes == 0 && open.capacity == 0 {
      open = allocator.buffer(capacity: max(estimate, min(left, Self.limit)))
    }
    write(&open)
    left = max(0, left - estimate)
  }

  /// The buffers filled so far, the open one closed (nothing written since the last take: none).
  mutating func take() -> [ByteBuffer] {
    close()
    defer { closed = [] }
    return closed
  }

  private mutating func close() {
    guard open.readableBytes > 0 else { return }
    closed.append(open)
    open = ByteBuffer()
  }
}
