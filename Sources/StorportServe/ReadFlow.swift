import NIOCore
import Storport

/// When a connection's bytes are read (swift-nio's `autoRead`), so that no client can make the
/// server hold more than a bound for it — the front ends' back-pressure. Reading pauses while
/// `limit` requests of the connection, or `byteLimit` bytes of them, are started and their
/// replies not yet written (in the adapter or waiting for the socket), or
/// while its replies waiting to be sent pass the channel's high water mark (a client that sends
/// and never reads); it resumes when all are back under (half the limits; the low water mark). TCP then pushes back on the
/// client. An NBD_CMD_DISC closes the connection only after the last outstanding reply.
///
/// The decisions are returned, not acted on (``apply(_:to:)`` acts), so the rule is tested
/// without a socket. The handlers call it on their event loop only (a reply counts as finished
/// when its write completes, there); the lock makes any other use safe too.
public final class ReadFlow: @unchecked Sendable {
  /// Requests of one NBD connection outstanding in the adapter before reading pauses (NBD has
  /// no window of its own; iSCSI's is its CmdSN window, so it counts no requests here).
  public static let nbdLimit = 64

  /// Bytes of one NBD connection's requests (read lengths, write payloads) in the adapter at
  /// which reading pauses.
  public static let nbdByteLimit = 64 << 20

  /// Requests in the adapter at which reading pauses.
  public let limit: Int
  /// Their bytes at which reading pauses.
  public let byteLimit: Int

  struct State {
    var outstanding = 0
    var bytes = 0
    var writable = true
    var paused = false
    var closing = false
  }
  private let state = Locked(State())

  public init(limit: Int = .max, byteLimit: Int = .max) {
    precondition(limit > 0 && byteLimit > 0)
    self.limit = limit
    self.byteLimit = byteLimit
  }

  /// Requests started and not yet answered.
  public var outstanding: Int { state.withLock { $0.outstanding } }

  /// Reading is paused: an owner parsing what it already received stops taking requests too.
  public var isPaused: Bool { state.withLock { $0.paused } }

  /// One more request (of `bytes`) is in the adapter: `false` when reading must pause now,
  /// nil for no change.
  public func started(bytes: Int = 0) -> Bool? {
    state.withLock { s in
      s.outstanding += 1
      s.bytes += bytes
      return decide(&s)
    }
  }

  /// A request was answered: whether reading resumes now (`true`), and whether the connection
  /// closes after this reply (the client disconnected and it was the last).
  public func finished(bytes: Int = 0) -> (autoRead: Bool?, close: Bool) {
    state.withLock { s in
      precondition(s.outstanding > 0 && s.bytes >= bytes, "a reply without a request")
      s.outstanding -= 1
      s.bytes -= bytes
      return (decide(&s), s.closing && s.outstanding == 0)
    }
  }

  /// The channel's writability changed: the `autoRead` to set, or nil for no change.
  public func writability(_ writable: Bool) -> Bool? {
    state.withLock { s in
      s.writable = writable
      return decide(&s)
    }
  }

  /// The client disconnected: true when nothing is outstanding (close now); otherwise the
  /// last ``finished()`` says close.
  public func disconnect() -> Bool {
    state.withLock { s in
      s.closing = true
      return s.outstanding == 0
    }
  }

  /// Sets the channel's `autoRead` when a decision says so.
  func apply(_ autoRead: Bool?, to channel: Channel) {
    guard let autoRead else { return }
    channel.setOption(ChannelOptions.autoRead, value: autoRead).whenFailure { _ in }
  }

  private func decide(_ s: inout State) -> Bool? {
    if !s.paused && (s.outstanding >= limit || s.bytes >= byteLimit || !s.writable) {
      s.paused = true
      return false
    }
    if s.paused && s.outstanding <= limit / 2 && s.bytes <= byteLimit / 2 && s.writable {
      s.paused = false
      return true
    }
    return nil
  }
}
