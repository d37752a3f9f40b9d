import Logging
import NIOCore
import NIOPosix
import Storport

/// An NBD server (newstyle fixed negotiation, simple and structured replies) in front of ``AdapterDisk``s, on
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
  let openConnections = Locked(0)

  /// Connections open at once; one more is closed at once (logged).
  static let maximumConnections = 1024
  /// Time a client has from connecting to the transmission phase.
  static let negotiationTimeout = TimeAmount.seconds(30)

  /// - Parameter metrics: where requests and sessions are counted (nil: nowhere).
  public init(exports: [Export], metrics: ServeMetrics? = nil, logger: Logger = Logger(label: "storport.nbd"))
  {
    self.exports = exports
    self.metrics = metrics
    self.logger = logger
    group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
  }

  /// Binds and listens; returns the port bound (useful with port 0). Throws ``ListenError``
  /// when `host:port` cannot be listened on.
  public func start(host: String, port: Int) throws(ListenError) -> Int {
    let exports = self.exports
    let logger = self.logger
    let metrics = self.metrics
    let open = self.openConnections
    let ch = try Listener.bind(group: group, host: host, port: port) {
      NBDConnectionHandler(exports: exports, metrics: metrics, open: open, logger: logger)
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

/// One connection: the session's events turned into writes and adapter I/O.
final class NBDConnectionHandler: ChannelInboundHandler, @unchecked Sendable {
  typealias InboundIn = ByteBuffer
  typealias OutboundOut = ByteBuffer

  private var session: NBDSession
  private let flow = ReadFlow(limit: ReadFlow.nbdLimit, byteLimit: ReadFlow.nbdByteLimit)
  private var context: ChannelHandlerContext?
  private let exports: [NBDServer.Export]
  private let metrics: ServeMetrics?
  private let logger: Logger
  private var counted = false
  /// The server's count of open connections, and whether this one holds a place in it.
  private let open: Locked<Int>
  private var holdsSlot = false
  private var negotiationDeadline: Scheduled<Void>?

  init(exports: [NBDServer.Export], metrics: ServeMetrics?, open: Locked<Int>, logger: Logger) {
    self.open = open
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
    let admitted = open.withLock { n -> Bool in
      guard n < NBDServer.maximumConnections else { return false }
      n += 1
      return true
    }
    guard admitted else {
      logger.info("NBD connection refused: \(NBDServer.maximumConnections) are open")
      context.close(promise: nil)
      return
    }
    holdsSlot = true
    context.writeAndFlush(
      wrapOutboundOut(context.channel.allocator.buffer(bytes: NBDSession.greeting())), promise: nil)
    // A client has `negotiationTimeout` to reach transmission; one that connects and idles (or
    // trickles options) is closed.
    negotiationDeadline = context.eventLoop.scheduleTask(in: NBDServer.negotiationTimeout) { [weak self] in
      guard let self, self.session.currentExport == nil, let context = self.context else { return }
      self.logger.debug("NBD connection closes", metadata: ["reason": "negotiation not finished in time"])
      context.close(promise: nil)
    }
  }

  func channelWritabilityChanged(context: ChannelHandlerContext) {
    let autoRead = flow.writability(context.channel.isWritable)
    flow.apply(autoRead, to: context.channel)
    if autoRead == true { process(context) }
    context.fireChannelWritabilityChanged()
  }

  func channelInactive(context: ChannelHandlerContext) {
    negotiationDeadline?.cancel()
    if holdsSlot { open.withLock { $0 -= 1 } }
    holdsSlot = false
    if counted { metrics?.session(.nbd, -1) }
    counted = false
  }

  func handlerAdded(context: ChannelHandlerContext) {
    self.context = context
    batch = makeBatch(context.channel)
  }
  func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    var buffer = unwrapInboundIn(data)
    session.append(buffer.readBytes(length: buffer.readableBytes) ?? [])
    process(context)
  }

  /// Takes requests from what was received until none is whole or reading is paused (what is
  /// left waits for ``resume()``).
  private func process(_ context: ChannelHandlerContext) {
    while !flow.isPaused, let events = session.step() {
      if let command = session.refusedCommand, let metrics {
        let op: ServeMetrics.Operation =
          command == NBD.cmdRead
          ? .read : command == NBD.cmdWrite ? .write : command == NBD.cmdFlush ? .flush : .other
        metrics.completed(.nbd, op, bytes: 0, failed: true, since: ServeMetrics.now())
      }
      if !counted && session.currentExport != nil {
        counted = true
        metrics?.session(.nbd, 1)
      }
      guard perform(events, context) else { return }
    }
    context.flush()
  }

  /// Reading resumed (on the event loop): the requests already received go first.
  private func resume() {
    guard let context, context.channel.isActive else { return }
    process(context)
  }

  /// Does what one message asks; false once the connection is closing.
  private func perform(_ events: [NBDSession.Event], _ context: ChannelHandlerContext) -> Bool {
    let channel = context.channel
    let metrics = self.metrics
    let since = metrics == nil ? 0 : ServeMetrics.now()
    let structured = session.structuredReplies
    /// Counts the request (when metrics are kept), then replies.
    func answer(_ op: ServeMetrics.Operation, _ cookie: UInt64, bytes: Int, read offset: UInt64? = nil)
      -> @Sendable (AdapterDisk.Outcome, DataIn) -> Void
    {
      { outcome, data in
        metrics?.completed(
          .nbd, op, bytes: outcome == .success ? bytes : 0, failed: outcome != .success, since: since)
        self.reply(cookie, outcome, data, read: offset, structured: structured, bytes: bytes)
      }
    }
    for event in events {
      if event.startsIO { flow.apply(flow.started(bytes: event.payloadBytes), to: channel) }
      switch event {
      case .send(let out):
        context.write(wrapOutboundOut(channel.allocator.buffer(bytes: out)), promise: nil)
      case .close(let reason):
        // What the client did wrong (bad magic, an oversize write, an unknown export…): one
        // line per connection. (Its own NBD_OPT_ABORT is a disconnect.)
        logger.info("NBD connection closed by the server", metadata: ["reason": "\(reason)"])
        context.flush()
        context.close(promise: nil)
        return false
      case .disconnect:
        logger.debug("NBD connection closes", metadata: ["reason": "client disconnected"])
        context.flush()
        if flow.disconnect() { context.close(promise: nil) }
        return false
      case .read(let cookie, let offset, let length):
        if !disk.reservations.allows(write: false, nexus: nexus) {
          answer(.read, cookie, bytes: Int(length), read: offset)(
            .failed("RESERVATION CONFLICT"), DataIn())
          continue
        }
        disk.read(
          offset: offset, length: Int(length),
          completion: answer(.read, cookie, bytes: Int(length), read: offset))
      case .write(let cookie, let offset, let data, let fua):
        let done = answer(.write, cookie, bytes: data.count)
        if !disk.reservations.allows(write: true, nexus: nexus) {
          done(.failed("RESERVATION CONFLICT"), DataIn())
          continue
        }
        disk.write(offset: offset, data: data, fua: fua) { done($0, DataIn()) }
      case .flush(let cookie):
        let done = answer(.flush, cookie, bytes: 0)
        if !disk.reservations.allows(write: true, nexus: nexus) {
          done(.failed("RESERVATION CONFLICT"), DataIn())
          continue
        }
        disk.flush { done($0, DataIn()) }
      case .trim(let cookie, _, _):
        // Trimming is advisory: acknowledged, the data kept.
        answer(.other, cookie, bytes: 0)(.success, DataIn())
      case .writeZeroes(let cookie, let offset, let length, let fua):
        let done = answer(.other, cookie, bytes: 0)
        if !disk.reservations.allows(write: true, nexus: nexus) {
          done(.failed("RESERVATION CONFLICT"), DataIn())
          continue
        }
        disk.writeZeroes(offset: offset, length: Int(length), fua: fua) { done($0, DataIn()) }
      }
    }
    return true
  }

  /// This connection's I_T nexus for the export's reservations: an NBD client never
  /// registers, so a reservation another nexus holds refuses what its type forbids (EIO).
  private lazy var nexus = "nbd:" + String(UInt(bitPattern: ObjectIdentifier(self).hashValue), radix: 16)

  /// The export's disk, found once when the session enters transmission.
  private var exportDisk: AdapterDisk?
  private var disk: AdapterDisk {
    if let exportDisk { return exportDisk }
    let found = exports.first { $0.name == session.currentExport?.name }?.disk ?? exports[0].disk
    if session.currentExport != nil { exportDisk = found }
    return found
  }

  /// Writes the reply to `cookie` (`offset`: a read's, for a structured chunk) — batched with
  /// the other replies finished meanwhile, in shared wire buffers and one flush — and, once
  /// written, updates the flow: reading resumes (the requests already received first), or the
  /// connection closes after a disconnect. Called on any thread; the reply is made on the loop,
  /// the read's data copied there from its request's buffer.
  private func reply(
    _ cookie: UInt64, _ outcome: AdapterDisk.Outcome, _ data: DataIn, read offset: UInt64?,
    structured: Bool, bytes: Int
  ) {
    batch?.add(
      Reply(
        cookie: cookie, error: outcome == .success ? 0 : NBD.eio, data: data, offset: offset,
        structured: structured, bytes: bytes))
  }

  /// A reply waiting for the loop: what its head says, the read's data, and the request's
  /// payload bytes (for the flow).
  private struct Reply {
    var cookie: UInt64
    var error: UInt32
    var data: DataIn
    var offset: UInt64?
    var structured: Bool
    var bytes: Int
  }

  /// Replies waiting for the loop. Weak: the handler owns the batch; once the connection is
  /// gone, late replies are dropped.
  /// Made when the handler is added (on the loop), before any request can finish.
  private var batch: LoopBatch<Reply>?
  private func makeBatch(_ channel: Channel) -> LoopBatch<Reply> {
    LoopBatch<Reply>(loop: channel.eventLoop) { [weak self] done in
      guard let self, !done.isEmpty else { return }
      var wire = WireBuffers(
        estimatedBytes: done.reduce(0) { $0 + 32 + $1.data.count }, allocator: channel.allocator)
      for reply in done {
        let (head, dataFollows) = NBDSession.replyHead(
          cookie: reply.cookie, error: reply.error, dataCount: reply.data.count, read: reply.offset,
          structured: reply.structured)
        wire.append(estimate: head.count + (dataFollows ? reply.data.count : 0)) { out in
          head.withUnsafeBytes { _ = out.writeBytes($0) }
          if dataFollows { out.writeDataIn(reply.data) }
        }
      }
      let buffers = wire.take()
      for out in buffers.dropLast() { channel.write(out, promise: nil) }
      // The request counts until its reply is written: replies waiting for a client that does
      // not read count against the same limits as requests in the adapter. (Only the counts
      // are kept: the read data goes now.)
      let finished = done.map(\.bytes)
      channel.writeAndFlush(buffers.last ?? ByteBuffer()).whenComplete { _ in
        var resume = false
        var close = false
        for bytes in finished {
          let next = self.flow.finished(bytes: bytes)
          self.flow.apply(next.autoRead, to: channel)
          resume = resume || next.autoRead == true
          close = close || next.close
        }
        if resume { self.resume() }
        if close { channel.close(promise: nil) }
      }
    }
  }

  func errorCaught(context: ChannelHandlerContext, error: Error) {
    logger.debug("NBD connection error", metadata: ["error": "\(error)"])
    context.close(promise: nil)
  }
}

extension NBDSession.Event {
  /// The event starts a request whose reply comes later (counted by ``ReadFlow``).
  var startsIO: Bool {
    switch self {
    case .read, .write, .flush, .trim, .writeZeroes: return true
    case .send, .close, .disconnect: return false
    }
  }

  /// The bytes the request holds while in the adapter (a read's length, a write's payload).
  var payloadBytes: Int {
    switch self {
    case .read(_, _, let length): return Int(length)
    case .write(_, _, let data, _): return data.count
    default: return 0
    }
  }
}
