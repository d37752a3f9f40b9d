import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Storport

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
  /// normal session, and the resets it has seen: loaded from the server's table at login
  /// (``ISCSIServer/resetsSeen(by:)``), written back when a UNIT ATTENTION is delivered — so a
  /// command looks up one generation, not the table.
  private var nexus: String?
  private var seen: [UInt16: UInt64] = [:]
  /// The port's commands in the adapters (counted for a later session that reinstates it).
  private var tasks: NexusTasks?
  /// What the final login of a normal session sends and runs, held until the session it
  /// reinstates has no command left in an adapter (``ISCSIServer/claimSession(_:by:ready:)``);
  /// nil when nothing is held.
  private var heldLogin: [ISCSIConnection.Event]?

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
    let admitted = server.connections.withLockedValue { table -> Bool in
      guard table.count < ISCSIServer.maximumConnections else { return false }
      table[ObjectIdentifier(self)] = context.channel
      return true
    }
    guard admitted else {
      logger.info("iSCSI connection refused: \(ISCSIServer.maximumConnections) are open")
      context.close(promise: nil)
      return
    }
    lastHeard = ServeMetrics.now()
    connection.loginDeadline = lastHeard + ISCSIServer.loginTimeout
    // Pings (when on) and the login deadline are checked four times per ping interval (every
    // 5 s without pings): a ping leaves within a quarter interval of the silence passing it,
    // and an unanswered one or a late login is noticed as soon.
    let interval = server.pingInterval.map { UInt64($0) * 1_000_000_000 }
    let period = Int64(interval.map { $0 / 4 } ?? 5_000_000_000)
    ticks = context.eventLoop.scheduleRepeatedTask(
      initialDelay: .nanoseconds(period), delay: .nanoseconds(period)
    ) { [weak self] _ in
      guard let self, let context = self.context else { return }
      let now = ServeMetrics.now()
      let events = self.connection.tick(
        now: now, silentFor: now &- self.lastHeard, interval: interval ?? .max, timeout: interval ?? .max)
      self.perform(events, context: context)
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
    server.releaseTSIH(connection.assignedTSIH)
  }

  func channelInactive(context: ChannelHandlerContext) {
    ticks?.cancel()
    ticks = nil
    _ = server.connections.withLockedValue { $0.removeValue(forKey: ObjectIdentifier(self)) }
    // The I_T nexus is lost with its connection (one connection per session): its RESERVE
    // reservations end (SPC-2); persistent ones stay. Not when a newer session of the same
    // initiator port reinstated this one (its reservations ended then).
    if let nexus, server.releaseSession(nexus, by: ObjectIdentifier(self)) { server.nexusLost(nexus) }
    if counted {
      server.metrics?.session(.iscsi, -1)
    }
    counted = false
    connection.abandon()
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    lastHeard = ServeMetrics.now()
    if heldLogin != nil {
      // An initiator sends nothing between its final Login Request and the Login Response.
      logger.debug("iSCSI connection closes", metadata: ["reason": "a PDU before the login response"])
      context.close(promise: nil)
      return
    }
    var buffer = unwrapInboundIn(data)
    let bytes = buffer.readBytes(length: buffer.readableBytes) ?? []
    let wasFullFeature = connection.isFullFeature
    let events = connection.receive(bytes)
    if !wasFullFeature && connection.isFullFeature && !connection.sessionIsDiscovery {
      let isid = connection.isid.map { String($0 >> 4, radix: 16) + String($0 & 0xF, radix: 16) }.joined()
      // iSCSI names compare without regard to case (RFC 3722 stringprep folds them).
      nexus = (connection.initiatorName ?? "").lowercased() + ",i,0x" + isid
      seen = server.resetsSeen(by: nexus!)  // a new nexus starts up to date
      counted = true
      server.metrics?.session(.iscsi, 1)
      logger.info("iSCSI login", metadata: ["negotiated": "\(connection.negotiated)"])
      heldLogin = events
      let loop = context.eventLoop
      tasks = server.claimSession(nexus!, by: ObjectIdentifier(self)) { [weak self] in
        guard let self else { return }
        loop.execute { self.releaseLogin() }
      }
      return
    }
    perform(events, context: context)
  }

  /// The reinstated session's commands have left the adapters: the login response goes out and
  /// whatever came with the login runs.
  private func releaseLogin() {
    guard let events = heldLogin, let context, context.channel.isActive else { return }
    heldLogin = nil
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
        // A refused login is worth an operator's eye (a wrong secret, a stranger); the rest is
        // routine.
        if reason.hasPrefix("login failed") {
          logger.info("iSCSI login refused", metadata: ["reason": "\(reason)"])
        } else {
          logger.debug("iSCSI connection closes", metadata: ["reason": "\(reason)"])
        }
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
        let tasks = self.tasks
        tasks?.begin()
        server.run(task, nexus: nexus ?? "") { result in
          tasks?.end()
          completions.add((task, result))
        }
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
      current.generation > seen[task.lun] ?? 0
    else { return nil }
    seen[task.lun] = current.generation
    server.sawReset(nexus, lun: task.lun, generation: current.generation)
    return ISCSITaskResult(status: 0x02, sense: FixedSense.bytes(0x06, 0x29, current.ascq))
  }

  /// Commands the adapter finished, answered in batches on the loop (one flush per batch).
  private var batch: LoopBatch<(ISCSITask, ISCSITaskResult)>?
  private func completions(_ context: ChannelHandlerContext) -> LoopBatch<(ISCSITask, ISCSITaskResult)> {
    if let batch { return batch }
    let channel = context.channel
    // Weak: the handler owns the batch; once the connection is gone, late results are dropped.
    let made = LoopBatch<(ISCSITask, ISCSITaskResult)>(loop: context.eventLoop) { [weak self] done in
      guard let self else { return }
      for (task, result) in done { self.write(self.connection.complete(task, result), to: channel) }
      channel.flush()
    }
    batch = made
    return made
  }

  /// Writes what `events` send, without flushing.
  private func write(_ events: [ISCSIConnection.Event], to channel: Channel) {
    for case .send(let out) in events {
      channel.write(channel.allocator.buffer(bytes: out), promise: nil)
    }
  }

  /// Writes what `events` send, then one flush.
  private func send(_ events: [ISCSIConnection.Event], channel: Channel) {
    write(events, to: channel)
    channel.flush()
  }

  func errorCaught(context: ChannelHandlerContext, error: Error) {
    logger.debug("iSCSI connection error", metadata: ["error": "\(error)"])
    context.close(promise: nil)
  }
}
