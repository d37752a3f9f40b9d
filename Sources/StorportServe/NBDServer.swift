import Logging
import NIOCore
import NIOPosix
import Storport

/// An NBD server (newstyle fixed negotiation, simple replies) in front of ``AdapterDisk``s, on
/// swift-nio: each connection's bytes go through an ``NBDSession``; each request through the
/// adapter; replies go back as their I/O completes (out of order, matched by cookie, as the
/// protocol allows).
public final class NBDServer: @unchecked Sendable {
  public struct Export: Sendable {
    public let name: String
    public let disk: AdapterDisk
    public let readOnly: Bool
    public init(name: String, disk: AdapterDisk, readOnly: Bool = false) {
      self.name = name
      self.disk = disk
      self.readOnly = readOnly
    }
  }

  let exports: [Export]
  let group: MultiThreadedEventLoopGroup
  let logger: Logger
  let metrics: ServeMetrics?
  private var channel: Channel?

  /// - Parameter metrics: where requests and sessions are counted (nil: nowhere).
  public init(exports: [Export], metrics: ServeMetrics? = nil, logger: Logger = Logger(label: "storport.nbd"))
  {
    self.exports = exports
    self.metrics = metrics
    self.logger = logger
    group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
  }

  /// Binds and listens; returns the port bound (useful with port 0).
  public func start(host: String, port: Int) throws -> Int {
    let exports = self.exports
    let logger = self.logger
    let metrics = self.metrics
    let ch = try Listener.bind(group: group, host: host, port: port) {
      NBDConnectionHandler(exports: exports, metrics: metrics, logger: logger)
    }
    channel = ch
    logger.info("NBD listening", metadata: ["address": "\(ch.localAddress?.description ?? "?")"])
    return ch.localAddress?.port ?? port
  }

  /// Stops listening: no new connection. Open connections stay until ``shutdown()``, so
  /// completions of what they sent still reach them while the adapter drains.
  public func stop() {
    try? channel?.close().wait()
    channel = nil
  }

  /// Closes every connection and ends the event loop (after ``stop()`` and the drain).
  public func shutdown() {
    stop()
    try? group.syncShutdownGracefully()
  }
}

/// One connection's requests in the adapter. NBD has no window of its own, so reading from
/// the client pauses (`autoRead` off) when ``limit`` requests are outstanding and resumes at
/// half that — TCP then pushes back on the client — and an NBD_CMD_DISC closes the connection
/// only after the last outstanding reply is written. The decisions are returned, not acted on,
/// so the rule is tested without a socket.
public final class NBDFlow: @unchecked Sendable {
  /// Requests of one connection outstanding in the adapter before reading pauses.
  public static let limit = 64

  private let state = Locked<(outstanding: Int, paused: Bool, closing: Bool)>((0, false, false))

  public init() {}

  /// Requests started and not yet answered.
  public var outstanding: Int { state.withLock { $0.outstanding } }

  /// One more request is in the adapter: true when reading must pause now.
  public func started() -> Bool {
    state.withLock { s in
      s.outstanding += 1
      guard s.outstanding >= Self.limit && !s.paused else { return false }
      s.paused = true
      return true
    }
  }

  /// A request was answered: whether reading resumes now (at half the limit), and whether the
  /// connection closes after this reply (the client disconnected and it was the last).
  public func finished() -> (resume: Bool, close: Bool) {
    state.withLock { s in
      precondition(s.outstanding > 0, "an NBD reply without a request")
      s.outstanding -= 1
      let resume = s.paused && s.outstanding <= Self.limit / 2
      if resume { s.paused = false }
      return (resume, s.closing && s.outstanding == 0)
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
}

/// One connection: the session's events turned into writes and adapter I/O.
final class NBDConnectionHandler: ChannelInboundHandler, @unchecked Sendable {
  typealias InboundIn = ByteBuffer
  typealias OutboundOut = ByteBuffer

  private var session: NBDSession
  private let flow = NBDFlow()
  private let exports: [NBDServer.Export]
  private let metrics: ServeMetrics?
  private let logger: Logger
  private var counted = false

  init(exports: [NBDServer.Export], metrics: ServeMetrics?, logger: Logger) {
    self.exports = exports
    self.metrics = metrics
    self.logger = logger
    session = NBDSession(
      exports: exports.map {
        NBDSession.Export(
          name: $0.name, description: "swift-storport adapter \($0.disk.adapter.name)",
          sizeBytes: $0.disk.sizeBytes,
          blockSize: UInt32($0.disk.blockSize), readOnly: $0.readOnly)
      })
  }

  func channelActive(context: ChannelHandlerContext) {
    context.writeAndFlush(
      wrapOutboundOut(context.channel.allocator.buffer(bytes: NBDSession.greeting())), promise: nil)
  }

  func channelInactive(context: ChannelHandlerContext) {
    if counted { metrics?.session(.nbd, -1) }
    counted = false
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    var buffer = unwrapInboundIn(data)
    let bytes = buffer.readBytes(length: buffer.readableBytes) ?? []
    let events = session.receive(bytes)
    if !counted && session.currentExport != nil {
      counted = true
      metrics?.session(.nbd, 1)
    }
    let channel = context.channel
    let flow = self.flow
    let metrics = self.metrics
    let since = metrics == nil ? 0 : ServeMetrics.now()
    let structured = session.structuredReplies
    /// Counts the request (when metrics are kept), then replies.
    func answer(_ op: ServeMetrics.Operation, _ cookie: UInt64, bytes: Int, read offset: UInt64? = nil)
      -> @Sendable (AdapterDisk.Outcome, [UInt8]) -> Void
    {
      { outcome, data in
        metrics?.completed(
          .nbd, op, bytes: outcome == .success ? bytes : 0, failed: outcome != .success, since: since)
        Self.reply(channel, flow, cookie, outcome, data, read: offset, structured: structured)
      }
    }
    for event in events {
      if event.startsIO && flow.started() {
        channel.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in }
      }
      switch event {
      case .send(let out):
        context.write(wrapOutboundOut(channel.allocator.buffer(bytes: out)), promise: nil)
      case .close(let reason):
        logger.debug("NBD connection closes", metadata: ["reason": "\(reason)"])
        context.flush()
        context.close(promise: nil)
        return
      case .disconnect:
        logger.debug("NBD connection closes", metadata: ["reason": "client disconnected"])
        context.flush()
        if flow.disconnect() { context.close(promise: nil) }
        return
      case .read(let cookie, let offset, let length):
        disk.read(
          offset: offset, length: Int(length),
          completion: answer(.read, cookie, bytes: Int(length), read: offset))
      case .write(let cookie, let offset, let data, let fua):
        let done = answer(.write, cookie, bytes: data.count)
        disk.write(offset: offset, data: data, fua: fua) { done($0, []) }
      case .flush(let cookie):
        let done = answer(.flush, cookie, bytes: 0)
        disk.flush { done($0, []) }
      case .trim(let cookie, _, _):
        // Trimming is advisory: acknowledged, the data kept.
        answer(.other, cookie, bytes: 0)(.success, [])
      case .writeZeroes(let cookie, let offset, let length, let fua):
        let done = answer(.other, cookie, bytes: 0)
        disk.writeZeroes(offset: offset, length: Int(length), fua: fua) { done($0, []) }
      }
    }
    context.flush()
  }

  private var disk: AdapterDisk {
    exports.first { $0.name == session.currentExport?.name }?.disk ?? exports[0].disk
  }

  /// Writes the reply to `cookie` (`offset`: a read's, for a structured chunk) and updates
  /// the flow (reading resumes, or the connection closes after a disconnect).
  static func reply(
    _ channel: Channel, _ flow: NBDFlow, _ cookie: UInt64, _ outcome: AdapterDisk.Outcome, _ data: [UInt8],
    read offset: UInt64?, structured: Bool
  ) {
    let out = NBDSession.reply(
      cookie: cookie, error: outcome == .success ? 0 : NBD.eio, data: data, read: offset,
      structured: structured)
    let written = channel.writeAndFlush(channel.allocator.buffer(bytes: out))
    let next = flow.finished()
    if next.resume { channel.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in } }
    if next.close { written.whenComplete { _ in channel.close(promise: nil) } }
  }

  func errorCaught(context: ChannelHandlerContext, error: Error) {
    logger.debug("NBD connection error", metadata: ["error": "\(error)"])
    context.close(promise: nil)
  }
}

extension NBDSession.Event {
  /// The event starts a request whose reply comes later (counted by ``NBDFlow``).
  var startsIO: Bool {
    switch self {
    case .read, .write, .flush, .trim, .writeZeroes: return true
    case .send, .close, .disconnect: return false
    }
  }
}
