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
  let sessions = NIOLockedValueBox(0)
  private let lastTSIH = NIOLockedValueBox<UInt16>(0)

  /// A TSIH for the next session: 1…65535, each in turn (RFC 7143 §11.12.8: unique among the
  /// target's sessions; 65,535 sessions would have to be open at once to meet one again).
  func nextTSIH() -> UInt16 {
    lastTSIH.withLockedValue {
      $0 = $0 == UInt16.max ? 1 : $0 + 1
      return $0
    }
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
  private let nexusSeen = NIOLockedValueBox([String: [UInt16: UInt64]]())
  static let nexusLimit = 4096

  /// What `nexus` has seen (a new nexus: every reset so far).
  func resetsSeen(by nexus: String) -> [UInt16: UInt64] {
    let current = resetGenerations.withLockedValue { $0.mapValues(\.generation) }
    return nexusSeen.withLockedValue { table in
      if let seen = table[nexus] { return seen }
      if table.count >= Self.nexusLimit {
        table = table.filter { _, seen in current.contains { seen[$0.key] ?? 0 < $0.value } }
      }
      if table.count < Self.nexusLimit { table[nexus] = current }
      return current
    }
  }

  /// `nexus` has now seen `generation` of `lun`'s resets.
  func sawReset(_ nexus: String, lun: UInt16, generation: UInt64) {
    nexusSeen.withLockedValue { $0[nexus, default: [:]][lun] = generation }
  }

  /// Open connections, so a TARGET COLD RESET can end them all.
  let connections = NIOLockedValueBox([ObjectIdentifier: Channel]())

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

  /// Binds and listens; returns the port bound (useful with port 0).
  public func start(host: String, port: Int) throws -> Int {
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

  // MARK: - Running commands

  /// Runs `task` on its LUN's adapter (or answers it here: REPORT LUNS, a LUN not served),
  /// counting it in ``metrics``.
  func run(_ task: ISCSITask, completion: @escaping @Sendable (ISCSITaskResult) -> Void) {
    guard let metrics else { return execute(task, completion: completion) }
    let since = ServeMetrics.now()
    // READ, WRITE and WRITE AND VERIFY are reads and writes; SYNCHRONIZE CACHE a flush; the rest
    // (INQUIRY, VERIFY, WRITE SAME, MODE SENSE…) other, their bytes not counted.
    let kind = BlockCdb(task.cdb)?.kind
    let op: ServeMetrics.Operation =
      kind == .read
      ? .read
      : kind == .write || kind == .writeAndVerify
        ? .write
        : [0x35, 0x91].contains(task.cdb[0]) ? .flush : .other
    execute(task) { result in
      let failed = result.status != 0
      let bytes =
        failed ? 0 : op == .read ? min(result.dataIn.count, task.expectedLength) : task.dataOut.count
      metrics.completed(
        .iscsi, op, bytes: op == .read || op == .write ? bytes : 0, failed: failed, since: since)
      completion(result)
    }
  }

  private func execute(_ task: ISCSITask, completion: @escaping @Sendable (ISCSITaskResult) -> Void) {
    let opcode = task.cdb[0]
    if opcode == 0xA0 {  // REPORT LUNS: the target's LUNs, not one adapter's
      completion(ISCSITaskResult(status: 0, dataIn: reportLuns(task)))
      return
    }
    guard let disk = disks[task.lun] else {
      if opcode == 0x12 {  // INQUIRY of a LUN not served: peripheral qualifier 3, no device
        var data = [UInt8](repeating: 0, count: 36)
        data[0] = 0x7F
        data[2] = 0x06
        data[3] = 0x02
        data[4] = 31
        completion(ISCSITaskResult(status: 0, dataIn: Array(data.prefix(task.expectedLength))))
      } else {
        completion(ISCSITaskResult(status: 0x02, sense: ISCSIConnection.sense(0x05, 0x25, 0x00)))
      }
      return
    }
    guard let block = BlockCdb(task.cdb), block.movesData else {
      disk.execute(cdb: task.cdb, dataOut: task.dataOut, dataInLength: task.isRead ? task.expectedLength : 0)
      {
        completion(
          ISCSITaskResult(status: $0.status, sense: $0.sense, dataIn: $0.data, overflow: $0.overflow))
      }
      return
    }
    // A block command moves what its CDB says (SPDTL); the initiator expects EDTL (RFC 7143
    // §11.4.5.1, processed as FCP-4 says): the command runs, no data moves beyond the shorter
    // of the two, and the difference is the residual (overflow when the CDB asked for more).
    let spdtl = block.dataBytes(blockSize: disk.blockSize)
    let edtl = task.expectedLength
    let overflow = max(0, spdtl - edtl)
    let underflow = max(0, edtl - spdtl)
    if block.hasDataOut {
      let data = Array(task.dataOut.prefix(min(spdtl, edtl)))
      // A write's residual stands whatever its status: it describes the command as sent
      // (RFC 7143 §11.4.5.1), so a refused partial block still reports its overflow.
      let finish: @Sendable (AdapterDisk.ScsiOutcome) -> Void = {
        completion(
          ISCSITaskResult(
            status: $0.status, sense: $0.sense, overflow: overflow, underflow: underflow))
      }
      if block.kind == .writeSame && spdtl != edtl {
        // The one block WRITE SAME repeats must be whole: INVALID FIELD IN INFORMATION UNIT.
        completion(
          ISCSITaskResult(
            status: 0x02, sense: ISCSIConnection.sense(0x05, 0x0E, 0x03), overflow: overflow,
            underflow: underflow))
      } else if spdtl <= edtl {
        disk.execute(cdb: task.cdb, dataOut: data, dataInLength: 0, completion: finish)
      } else {
        disk.truncatedWrite(block, data: data, completion: finish)
      }
      return
    }
    guard spdtl <= ISCSIConnection.maximumTransferBytes else {
      completion(ISCSITaskResult(status: 0x02, sense: ISCSIConnection.sense(0x05, 0x24, 0x00)))
      return
    }
    disk.execute(cdb: task.cdb, dataOut: [], dataInLength: spdtl) {
      completion(
        ISCSITaskResult(
          status: $0.status, sense: $0.sense, dataIn: Array($0.data.prefix(edtl)),
          overflow: $0.status == 0 ? overflow : 0, underflow: $0.status == 0 ? underflow : 0))
    }
  }

  private func reportLuns(_ task: ISCSITask) -> [UInt8] {
    let luns = configuration.luns
    var data = [UInt8](repeating: 0, count: 8)
    let listBytes = UInt32(luns.count * 8)
    for i in 0..<4 { data[i] = UInt8(truncatingIfNeeded: listBytes >> (24 - 8 * UInt32(i))) }
    for lun in luns {
      var entry = [UInt8](repeating: 0, count: 8)
      if lun < 256 {
        entry[1] = UInt8(lun)
      } else {
        entry[0] = 0x40 | UInt8(lun >> 8)
        entry[1] = UInt8(lun & 0xFF)
      }
      data += entry
    }
    return Array(data.prefix(task.expectedLength))
  }

  /// LOGICAL UNIT RESET through the miniport's reset path (SRB_FUNCTION_RESET_LOGICAL_UNIT).
  func resetLogicalUnit(_ lun: UInt16, ascq: UInt8 = 0x03, completion: @escaping @Sendable (Bool) -> Void) {
    guard let disk = disks[lun] else {
      completion(false)
      return
    }
    let r = StorRequest(function: .resetLogicalUnit)
    disk.adapter.submit(r) { done in
      let ok = done.srbStatus == .success
      if ok {
        self.resetGenerations.withLockedValue {
          $0[lun] = (($0[lun]?.generation ?? 0) + 1, ascq)
        }
      }
      completion(ok)
    }
  }

  /// TARGET WARM RESET: every LU reset through its adapter (SRB_FUNCTION_RESET_LOGICAL_UNIT),
  /// `completion` when all are done (true if all succeeded).
  func resetTarget(completion: @escaping @Sendable (Bool) -> Void) {
    let left = NIOLockedValueBox((count: disks.count, ok: true))
    for lun in disks.keys {
      resetLogicalUnit(lun, ascq: 0x00) { ok in
        let done = left.withLockedValue { l -> Bool? in
          l.count -= 1
          l.ok = l.ok && ok
          return l.count == 0 ? l.ok : nil
        }
        if let done { completion(done) }
      }
    }
  }

  /// TARGET COLD RESET's end: every connection to the target closes (after what it was
  /// sending).
  func closeAllConnections() {
    for channel in connections.withLockedValue({ Array($0.values) }) {
      channel.eventLoop.execute {
        channel.flush()
        channel.close(promise: nil)
      }
    }
  }
}

/// One connection: the session's events turned into writes and adapter I/O. All session state
/// is touched on the channel's event loop; completions hop back to it.
final class ISCSIConnectionHandler: ChannelInboundHandler, @unchecked Sendable {
  typealias InboundIn = ByteBuffer
  typealias OutboundOut = ByteBuffer

  private var connection: ISCSIConnection
  private let server: ISCSIServer
  private let logger: Logger
  private var counted = false
  private let flow = ReadFlow()
  private var context: ChannelHandlerContext?
  /// When the initiator last sent anything (ns), and the ping check's repeated task.
  private var lastHeard: UInt64 = 0
  private var ticks: RepeatedTask?
  /// This connection's I_T nexus by its initiator port (name and ISID), once logged in to a
  /// normal session; the resets it has seen are the server's (``ISCSIServer/resetsSeen(by:)``).
  private var nexus: String?

  init(server: ISCSIServer, logger: Logger) {
    self.server = server
    self.logger = logger
    connection = ISCSIConnection(target: server.configuration, tsih: server.nextTSIH())
  }

  func channelActive(context: ChannelHandlerContext) {
    var target = connection.target
    target.address = server.boundAddress
    // SendTargets answers the address this connection reached (not 0.0.0.0 when listening on
    // every address); IPv6 in brackets.
    if let local = context.localAddress, let ip = local.ipAddress, let port = local.port {
      target.address = (ip.contains(":") ? "[\(ip)]" : ip) + ":\(port),1"
    }
    connection = ISCSIConnection(target: target, tsih: connection.assignedTSIH)
    server.connections.withLockedValue { $0[ObjectIdentifier(self)] = context.channel }
    lastHeard = ServeMetrics.now()
    if let seconds = server.pingInterval {
      let interval = UInt64(seconds) * 1_000_000_000
      // Checked four times per interval: a ping leaves within a quarter interval of the
      // silence passing it, and an unanswered one is noticed as soon.
      ticks = context.eventLoop.scheduleRepeatedTask(
        initialDelay: .nanoseconds(Int64(interval / 4)), delay: .nanoseconds(Int64(interval / 4))
      ) { [weak self] _ in
        guard let self, let context = self.context else { return }
        let now = ServeMetrics.now()
        let events = self.connection.tick(
          now: now, silentFor: now &- self.lastHeard, interval: interval, timeout: interval)
        self.perform(events, context: context)
      }
    }
    logger.debug("iSCSI connection", metadata: ["peer": "\(context.remoteAddress?.description ?? "?")"])
  }

  func channelWritabilityChanged(context: ChannelHandlerContext) {
    // A client that sends and never reads: stop reading it while its replies pile up.
    flow.apply(flow.writability(context.channel.isWritable), to: context.channel)
    context.fireChannelWritabilityChanged()
  }

  func handlerAdded(context: ChannelHandlerContext) { self.context = context }
  func handlerRemoved(context: ChannelHandlerContext) {
    self.context = nil
    ticks?.cancel()
  }

  func channelInactive(context: ChannelHandlerContext) {
    ticks?.cancel()
    ticks = nil
    _ = server.connections.withLockedValue { $0.removeValue(forKey: ObjectIdentifier(self)) }
    if counted {
      server.sessions.withLockedValue { $0 -= 1 }
      server.metrics?.session(.iscsi, -1)
    }
    counted = false
    connection.abandon()
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    lastHeard = ServeMetrics.now()
    var buffer = unwrapInboundIn(data)
    let bytes = buffer.readBytes(length: buffer.readableBytes) ?? []
    let wasFullFeature = connection.isFullFeature
    let events = connection.receive(bytes)
    if !wasFullFeature && connection.isFullFeature && !connection.sessionIsDiscovery {
      let isid = connection.isid.map { String($0 >> 4, radix: 16) + String($0 & 0xF, radix: 16) }.joined()
      nexus = (connection.initiatorName ?? "") + ",i,0x" + isid
      _ = server.resetsSeen(by: nexus!)  // a new nexus starts up to date
      counted = true
      server.sessions.withLockedValue { $0 += 1 }
      server.metrics?.session(.iscsi, 1)
      logger.info("iSCSI login", metadata: ["negotiated": "\(connection.negotiated)"])
    }
    perform(events, context: context)
  }

  private func perform(_ events: [ISCSIConnection.Event], context: ChannelHandlerContext) {
    let channel = context.channel
    let loop = context.eventLoop
    var wrote = false
    for event in events {
      switch event {
      case .send(let out):
        context.write(wrapOutboundOut(channel.allocator.buffer(bytes: out)), promise: nil)
        wrote = true
      case .close(let reason):
        logger.debug("iSCSI connection closes", metadata: ["reason": "\(reason)"])
        context.flush()
        context.close(promise: nil)
        return
      case .execute(let task):
        if let attention = unitAttention(task) {
          for case .send(let out) in connection.complete(task, attention) {
            context.write(wrapOutboundOut(channel.allocator.buffer(bytes: out)), promise: nil)
            wrote = true
          }
          continue
        }
        let completions = self.completions(context)
        server.run(task) { result in completions.add((task, result)) }
      case .resetLogicalUnit(let lun, let itt):
        server.resetLogicalUnit(lun) { ok in
          loop.execute {
            let events = self.connection.completeReset(initiatorTaskTag: itt, succeeded: ok)
            self.send(events, channel: channel)
          }
        }
      case .resetTarget(let cold, let itt):
        logger.info("iSCSI target reset", metadata: ["kind": "\(cold ? "cold" : "warm")"])
        let server = self.server
        server.resetTarget { ok in
          loop.execute {
            let events = self.connection.completeReset(initiatorTaskTag: itt, succeeded: ok)
            self.send(events, channel: channel)
            if cold { server.closeAllConnections() }
          }
        }
      }
    }
    if wrote { context.flush() }
  }

  /// A UNIT ATTENTION this nexus owes `task` (a LOGICAL UNIT RESET it has not seen), once;
  /// INQUIRY, REPORT LUNS and REQUEST SENSE pass (SAM-5 §5.14).
  private func unitAttention(_ task: ISCSITask) -> ISCSITaskResult? {
    guard ![0x12, 0xA0, 0x03].contains(task.cdb[0]) else { return nil }
    guard let nexus, let current = server.resetGenerations.withLockedValue({ $0[task.lun] }),
      current.generation > server.resetsSeen(by: nexus)[task.lun] ?? 0
    else { return nil }
    server.sawReset(nexus, lun: task.lun, generation: current.generation)
    return ISCSITaskResult(status: 0x02, sense: ISCSIConnection.sense(0x06, 0x29, current.ascq))
  }

  /// Commands the adapter finished, answered in batches on the loop (one flush per batch).
  private var batch: LoopBatch<(ISCSITask, ISCSITaskResult)>?
  private func completions(_ context: ChannelHandlerContext) -> LoopBatch<(ISCSITask, ISCSITaskResult)> {
    if let batch { return batch }
    let channel = context.channel
    // Weak: the handler owns the batch; once the connection is gone, late results are dropped.
    let made = LoopBatch<(ISCSITask, ISCSITaskResult)>(loop: context.eventLoop) { [weak self] done in
      guard let self else { return }
      for (task, result) in done {
        for case .send(let out) in self.connection.complete(task, result) {
          channel.write(channel.allocator.buffer(bytes: out), promise: nil)
        }
      }
      channel.flush()
    }
    batch = made
    return made
  }

  private func send(_ events: [ISCSIConnection.Event], channel: Channel) {
    for case .send(let out) in events {
      channel.writeAndFlush(channel.allocator.buffer(bytes: out), promise: nil)
    }
  }

  func errorCaught(context: ChannelHandlerContext, error: Error) {
    logger.debug("iSCSI connection error", metadata: ["error": "\(error)"])
    context.close(promise: nil)
  }
}
