import Logging
import NIOCore
import NIOPosix

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
  private var channel: Channel?

  public init(exports: [Export], logger: Logger = Logger(label: "storport.nbd")) {
    self.exports = exports
    self.logger = logger
    group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
  }

  /// Binds and listens; returns the port bound (useful with port 0).
  public func start(host: String, port: Int) throws -> Int {
    let exports = self.exports
    let logger = self.logger
    let ch = try Listener.bind(group: group, host: host, port: port) {
      NBDConnectionHandler(exports: exports, logger: logger)
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
  private let exports: [NBDServer.Export]
  private let logger: Logger

  init(exports: [NBDServer.Export], logger: Logger) {
    self.exports = exports
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

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    var buffer = unwrapInboundIn(data)
    let bytes = buffer.readBytes(length: buffer.readableBytes) ?? []
    let events = session.receive(bytes)
    let channel = context.channel
    for event in events {
      switch event {
      case .send(let out):
        context.write(wrapOutboundOut(channel.allocator.buffer(bytes: out)), promise: nil)
      case .close(let reason):
        logger.debug("NBD connection closes", metadata: ["reason": "\(reason)"])
        context.flush()
        context.close(promise: nil)
        return
      case .read(let cookie, let offset, let length):
        disk.read(offset: offset, length: Int(length)) { outcome, data in
          Self.reply(channel, cookie, outcome, data)
        }
      case .write(let cookie, let offset, let data, let fua):
        disk.write(offset: offset, data: data, fua: fua) { outcome in Self.reply(channel, cookie, outcome, [])
        }
      case .flush(let cookie):
        disk.flush { outcome in Self.reply(channel, cookie, outcome, []) }
      case .trim(let cookie, _, _):
        // Trimming is advisory: acknowledged, the data kept.
        Self.reply(channel, cookie, .success, [])
      case .writeZeroes(let cookie, let offset, let length, let fua):
        disk.writeZeroes(offset: offset, length: Int(length), fua: fua) { outcome in
          Self.reply(channel, cookie, outcome, [])
        }
      }
    }
    context.flush()
  }

  private var disk: AdapterDisk {
    exports.first { $0.name == session.currentExport?.name }?.disk ?? exports[0].disk
  }

  static func reply(_ channel: Channel, _ cookie: UInt64, _ outcome: AdapterDisk.Outcome, _ data: [UInt8]) {
    var out = NBDSession.simpleReply(cookie, outcome == .success ? 0 : NBD.eio)
    if outcome == .success { out += data }
    channel.writeAndFlush(channel.allocator.buffer(bytes: out), promise: nil)
  }

  func errorCaught(context: ChannelHandlerContext, error: Error) {
    logger.debug("NBD connection error", metadata: ["error": "\(error)"])
    context.close(promise: nil)
  }
}
