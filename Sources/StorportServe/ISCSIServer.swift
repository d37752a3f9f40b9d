import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Storport

/// An iSCSI target (RFC 7143) in front of ``AdapterDisk``s, on swift-nio: each connection's
/// bytes go through an ``ISCSIConnection``; each SCSI command through its LUN's adapter, as the
/// initiator sent it (the miniport's LU answers INQUIRY, READ CAPACITY, MODE SENSE…); the
/// target answers REPORT LUNS itself, and for a LUN it does not serve, INQUIRY with "no unit"
/// and everything else LOGICAL UNIT NOT SUPPORTED.
public final class ISCSIServer: @unchecked Sendable {
  public let configuration: ISCSITargetConfiguration
  let disks: [UInt16: AdapterDisk]
  let group: MultiThreadedEventLoopGroup
  let logger: Logger
  let metrics: ServeMetrics?
  let pingInterval: Int?
  private var channel: Channel?
  private let tsihs = NIOLockedValueBox((last: UInt16(0), inUse: Set<UInt16>()))

  /// A TSIH for a connection's session: the next of 1…65535 that no open connection holds
  /// (RFC 7143 §11.12.8: unique among the target's sessions); given back by
  /// ``releaseTSIH(_:)``. There are never more connections than TSIHs (`maximumConnections`).
  func nextTSIH() -> UInt16 {
    tsihs.withLockedValue { t in
      precondition(t.inUse.count < Int(UInt16.max), "every TSIH in use")
      repeat { t.last = t.last == UInt16.max ? 1 : t.last + 1 } while t.inUse.contains(t.last)
      t.inUse.insert(t.last)
      return t.last
    }
  }

  func releaseTSIH(_ tsih: UInt16) {
    _ = tsihs.withLockedValue { $0.inUse.remove(tsih) }
  }
  /// Resets done per LUN, and the ASCQ of the last one's UNIT ATTENTION: every I_T nexus that
  /// has not seen the latest gets it on its next command (SAM-5 §5.14) — 29/03 BUS DEVICE RESET
  /// FUNCTION OCCURRED after a LOGICAL UNIT RESET, 29/00 POWER ON, RESET, OR BUS DEVICE RESET
  /// OCCURRED after a target reset (a hard reset, RFC 7143 §11.5.1).
  let resetGenerations = NIOLockedValueBox([UInt16: (generation: UInt64, ascq: UInt8)]())
  /// The reset generation of each LUN each I_T nexus has seen, by initiator port (its name
  /// and ISID, RFC 7143 §10.1.1): the nexus outlives its connection, so an initiator that
  /// logs in again after a reset (a TARGET COLD RESET ends every connection) still gets the
  /// UNIT ATTENTION. At most `nexusLimit` ports are remembered; past that, those that have seen
  /// every reset are forgotten (a forgotten port logging in again starts up to date).
  let nexusSeen = NIOLockedValueBox([String: [UInt16: UInt64]]())
  static let nexusLimit = 4096

  /// Connections open at once; one more is closed at once (logged).
  static let maximumConnections = 1024
  /// Time a connection has to complete its login, in ns.
  static let loginTimeout: UInt64 = 30_000_000_000

  /// Open connections, so a TARGET COLD RESET can end them all.
  let connections = NIOLockedValueBox([ObjectIdentifier: Channel]())
  /// Each logged-in initiator port's normal session: a new session of the same port
  /// reinstates it and ends the old one (RFC 7143 §6.3.5).
  let sessions = NIOLockedValueBox([String: ISCSISession]())
  /// Normal sessions by TSIH, for a login that adds a connection to one (MC/S).
  let sessionsByTSIH = NIOLockedValueBox([UInt16: ISCSISession]())
  /// Looks up a session to join by its TSIH.
  var sessionLookup: @Sendable (UInt16) -> ISCSISession? {
    { [weak self] tsih in self?.sessionsByTSIH.withLockedValue { $0[tsih] } }
  }
  /// The commands each initiator port has in the adapters, kept after its connection closes
  /// while any is running (a reinstating session waits for them); at most about `nexusLimit`
  /// ports, idle ones without a session forgotten first.
  let nexusTasks = NIOLockedValueBox([String: NexusTasks]())

  /// - Parameters:
  ///   - name: the target's iSCSI name.
  ///   - luns: LUN number → the disk behind it.
  ///   - chap: when set, every login must prove these with CHAP (MD5, libcrypto's).
  ///   - mutualChap: what the target proves to an initiator that asks (mutual CHAP).
  ///   - allowedInitiators: initiator names admitted to normal sessions (nil: any).
  ///   - metrics: where commands and normal sessions are counted (nil: nowhere).
  ///   - pingInterval: silence after which the target pings a connection (NOP-In), in
  ///     seconds; a ping unanswered for as long again ends it. nil: never ping.
  public init(
    name: String, luns: [UInt16: AdapterDisk], chap: ISCSIChapCredentials? = nil,
    mutualChap: ISCSIChapCredentials? = nil, allowedInitiators: [String]? = nil,
    metrics: ServeMetrics? = nil, pingInterval: Int? = 30, logger: Logger = Logger(label: "storport.iscsi")
  ) {
    precondition(!luns.isEmpty, "an iSCSI target needs a LUN")
    precondition(pingInterval.map { $0 > 0 } ?? true, "a ping interval is at least a second")
    disks = luns
    self.metrics = metrics
    self.pingInterval = pingInterval
    configuration = ISCSITargetConfiguration(
      name: name, address: "", luns: luns.keys.sorted(), chap: chap, mutualChap: mutualChap,
      allowedInitiators: allowedInitiators, chapDigest: { ISCSIChapDigest.md5($0) })
    self.logger = logger
    group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
  }

  /// Binds and listens; returns the port bound (useful with port 0). Throws ``ListenError``
  /// when `host:port` cannot be listened on.
  public func start(host: String, port: Int) throws(ListenError) -> Int {
    let logger = self.logger
    let server = self
    let ch = try Listener.bind(group: group, host: host, port: port) {
      ISCSIConnectionHandler(server: server, logger: logger)
    }
    channel = ch
    let bound = ch.localAddress?.port ?? port
    boundAddress = "\(host):\(bound),1"
    logger.info(
      "iSCSI listening", metadata: ["address": "\(host):\(bound)", "target": "\(configuration.name)"])
    return bound
  }

  /// `HOST:PORT,TPGT` as SendTargets reports it.
  var boundAddress: String {
    get { addressBox.withLockedValue { $0 } }
    set { addressBox.withLockedValue { $0 = newValue } }
  }
  private let addressBox = NIOLockedValueBox("")

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
