import NIOCore
import NIOPosix

#if canImport(Glibc)
  import Glibc
#endif

/// Why a front end could not listen on its address, in the system's words ("Address already in
/// use (errno 98)") rather than the failing NIO call's; thrown by every `start(host:port:)`.
public struct ListenError: Error, CustomStringConvertible {
  public let description: String

  init(_ error: any Error) {
    switch error {
    case let e as IOError:
      description = "\(String(cString: strerror(e.errnoCode))) (errno \(e.errnoCode))"
    case let e as SocketAddressError.UnknownHost:
      description = "'\(e.host)' does not resolve: \(e.errorDescription)"
    case let e as SocketAddressError:
      if case .unknown(let host, _) = e {
        description = "'\(host)' does not resolve to an address"
      } else {
        description = "\(e)"
      }
    default: description = "\(error)"
    }
  }
}

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
  ) throws(ListenError) -> Channel {
    do {
      return try bootstrap(group: group, makeHandler: makeHandler).bind(host: host, port: port).wait()
    } catch {
      throw ListenError(error)
    }
  }

  private static func bootstrap(
    group: EventLoopGroup, makeHandler: @escaping @Sendable () -> any ChannelHandler
  ) -> ServerBootstrap {
    ServerBootstrap(group: group)
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
  }
}
