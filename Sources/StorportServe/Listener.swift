import NIOCore
import NIOPosix

/// The TCP listener both front ends use: a backlog of 64, SO_REUSEADDR, TCP_NODELAY and write
/// water marks on every connection, and one fresh handler per connection from `makeHandler`.
enum Listener {
  /// Replies queued for one connection above which it stops being read (``ReadFlow``), and
  /// below which reading resumes, in bytes.
  static let highWaterMark = 4 << 20
  static let lowWaterMark = 1 << 20

  /// Binds `host:port` on `group` and waits until it listens; the listening channel.
  static func bind(
    group: EventLoopGroup, host: String, port: Int,
    makeHandler: @escaping @Sendable () -> any ChannelHandler
  ) throws -> Channel {
    try ServerBootstrap(group: group)
      .serverChannelOption(ChannelOptions.backlog, value: 64)
      .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
      .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
      .childChannelOption(
        ChannelOptions.writeBufferWaterMark, value: .init(low: lowWaterMark, high: highWaterMark)
      )
      .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
          try channel.pipeline.syncOperations.addHandler(makeHandler())
        }
      }
      .bind(host: host, port: port).wait()
  }
}
