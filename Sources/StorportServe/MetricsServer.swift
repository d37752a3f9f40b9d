import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

/// The HTTP endpoint of `storport serve --metrics HOST:PORT` (swift-nio's HTTP/1.1 server):
/// `GET /metrics` answers the Prometheus text exposition format (version 0.0.4) after
/// `refresh` brings the pulled figures up to date; `GET /status` answers a short plain-text
/// status (the verifier's verdict per adapter); anything else is 404, and a method other than
/// GET or HEAD is 405. A request body is ignored; nothing a client sends is echoed.
public final class MetricsServer: @unchecked Sendable {
  /// What one scrape answers: the exposition bytes, and the status text.
  public struct Pages: Sendable {
    public var metrics: @Sendable () -> [UInt8]
    public var status: @Sendable () -> String
    public init(metrics: @escaping @Sendable () -> [UInt8], status: @escaping @Sendable () -> String) {
      self.metrics = metrics
      self.status = status
    }
  }

  let pages: Pages
  let group: MultiThreadedEventLoopGroup
  let logger: Logger
  private var channel: Channel?

  public init(pages: Pages, logger: Logger = Logger(label: "storport.metrics")) {
    self.pages = pages
    self.logger = logger
    group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
  }

  /// Binds and listens; returns the port bound (useful with port 0). Throws ``ListenError``
  /// when `host:port` cannot be listened on.
  public func start(host: String, port: Int) throws(ListenError) -> Int {
    let pages = self.pages
    let bootstrap = ServerBootstrap(group: group)
      .serverChannelOption(ChannelOptions.backlog, value: 16)
      .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
      .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
          try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
          try channel.pipeline.syncOperations.addHandler(MetricsHTTPHandler(pages: pages))
        }
      }
    let ch: Channel
    do { ch = try bootstrap.bind(host: host, port: port).wait() } catch { throw ListenError(error) }
    channel = ch
    logger.info("metrics listening", metadata: ["address": "\(ch.localAddress?.description ?? "?")"])
    return ch.localAddress?.port ?? port
  }

  /// Stops listening and ends the event loop.
  public func shutdown() {
    try? channel?.close().wait()
    channel = nil
    try? group.syncShutdownGracefully()
  }
}

final class MetricsHTTPHandler: ChannelInboundHandler, @unchecked Sendable {
  typealias InboundIn = HTTPServerRequestPart
  typealias OutboundOut = HTTPServerResponsePart

  private let pages: MetricsServer.Pages
  private var head: HTTPRequestHead?

  init(pages: MetricsServer.Pages) { self.pages = pages }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    switch unwrapInboundIn(data) {
    case .head(let h): head = h
    case .body: break
    case .end:
      guard let h = head else { return }
      head = nil
      respond(to: h, context: context)
    }
  }

  private func respond(to request: HTTPRequestHead, context: ChannelHandlerContext) {
    let path = request.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? ""
    var status = HTTPResponseStatus.ok
    var type = "text/plain; charset=utf-8"
    var body: [UInt8]
    if request.method != .GET && request.method != .HEAD {
      status = .methodNotAllowed
      body = Array("GET or HEAD only\n".utf8)
    } else if path == "/metrics" {
      type = "text/plain; version=0.0.4; charset=utf-8"
      body = pages.metrics()
    } else if path == "/status" {
      body = Array(pages.status().utf8)
    } else {
      status = .notFound
      body = Array("not found: try /metrics or /status\n".utf8)
    }
    var headers = HTTPHeaders()
    headers.add(name: "Content-Type", value: type)
    headers.add(name: "Content-Length", value: String(body.count))
    if status == .methodNotAllowed { headers.add(name: "Allow", value: "GET, HEAD") }
    let keepAlive = request.isKeepAlive && status == .ok
    if !keepAlive { headers.add(name: "Connection", value: "close") }
    context.write(
      wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status, headers: headers))),
      promise: nil)
    if request.method != .HEAD {
      context.write(
        wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
    }
    let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
    if !keepAlive {
      let channel = context.channel
      done.whenComplete { _ in channel.close(promise: nil) }
    }
  }
}
