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
  private let flow = ReadFlow()
  private var context: ChannelHandlerContext?
  /// When the initiator last sent anything (ns), and the ping check's repeated task.
  private var lastHeard: UInt64 = 0
  private var ticks: RepeatedTask?
  /// This connection's I_T nexus by its initiator port (name and ISID), once logged in to a
  /// normal session. The resets it has seen are its session's (``ISCSISession/resetsSeen``):
  /// loaded from the server's table at the leading login (``ISCSIServer/resetsSeen(by:)``),
  /// written back when a UNIT ATTENTION is delivered — so a command looks up one generation,
  /// not the table.
  private var nexus: String?
  /// The port's commands in the adapters (counted for a later session that reinstates it).
  private var tasks: NexusTasks?
  /// What the final login of a normal session sends and runs, held until the session it
  /// reinstates has no command left in an adapter (``ISCSIServer/claimSession(_:by:ready:)``);
  /// nil when nothing is held.
  private var heldLogin: [ISCSIConnection.Event]?

  init(server: ISCSIServer, logger: Logger) {
    self.server = server
    self.logger = logger
    connection = ISCSIConnection(
      target: server.configuration, tsih: server.nextTSIH(), sessions: server.sessionLookup)
  }

  func channelActive(context: ChannelHandlerContext) {
    var target = connection.target
    target.address = server.boundAddress
    // SendTargets answers the address this connection reached (not 0.0.0.0 when listening on
    // every address); IPv6 in brackets.
    if let local = context.localAddress, let ip = local.ipAddress, let port = local.port {
      target.address = (ip.contains(":") ? "[\(ip)]" : ip) + ":\(port),1"
    }
    connection = ISCSIConnection(
      target: target, tsih: connection.assignedTSIH, sessions: server.sessionLookup)
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
    // A session's TSIH is given back when the session ends (``ISCSIServer/sessionEnded``).
    if !connection.ledSession { server.releaseTSIH(connection.assignedTSIH) }
  }

  func channelInactive(context: ChannelHandlerContext) {
    ticks?.cancel()
    ticks = nil
    _ = server.connections.withLockedValue { $0.removeValue(forKey: ObjectIdentifier(self)) }
    // ErrorRecoveryLevel 0 recovers only whole sessions (RFC 7143 §7.1.5): a connection lost
    // without a logout fails its session, and a logout of the session ends every connection.
    leaveSession(endingIt: !connection.loggedOut || connection.endsSession)
  }

  /// This connection leaves its session (once); `endingIt`: the session's other connections
  /// end too. The last to leave ends the session (``ISCSIServer/sessionEnded(_:nexus:)``).
  private func leaveSession(endingIt: Bool) {
    guard connection.isMember else {
      connection.abandon()
      return
    }
    let session = connection.session
    connection.abandon()
    if endingIt {
      for hooks in Array(session.hooks.values) { hooks.close() }
    }
    if session.connectionCount == 0 { server.sessionEnded(session, nexus: nexus) }
  }

  /// Ends this connection as its session asks (a reinstated CID, a logout naming it, the
  /// session's end, or its reinstatement by a new session): an implicit logout.
  private func endImplicitly() {
    connection.loggedOut = true
    leaveSession(endingIt: false)
    guard let context else { return }
    context.flush()
    context.close(promise: nil)
  }

  /// The owner's hooks this connection gives its session.
  private func hooks() -> ISCSISession.Hooks {
    ISCSISession.Hooks(
      deliver: { [weak self] pdu in self?.deliverDeferred(pdu) },
      close: { [weak self] in self?.endImplicitly() },
      whenClosed: { [weak self] done in
        guard let channel = self?.context?.channel else { return done() }
        channel.closeFuture.whenComplete { _ in done() }
      },
      abort: { [weak self] lun in self?.connection.abort(lun, by: .thisNexus).running ?? [] },
      anotherNexusReset: { [weak self] lun in
        // At once, before the reset reaches the adapter: nothing of this nexus's that the reset
        // covers may start after it (a later turn would let this loop's next reads start
        // some). Safe: the reset comes from another session's receive — this handler is not
        // on the stack — and its answers are sent in StatSN order as they are made.
        guard let self, let context = self.context else { return }
        self.perform(self.connection.abort(lun, by: .anotherNexus).events, context: context)
        self.resumeWaiting()  // the slots of those answered may let later ones start
      },
      answer: { [weak self] held in
        // On a later turn of the loop: the connection may be the one whose PDU led here (a
        // logout of the connection whose tasks this response awaited), still in its receive.
        guard let loop = self?.context?.eventLoop else { return }
        loop.execute {
          guard let self, let context = self.context, self.connection.isFullFeature else { return }
          self.perform([self.connection.answer(held)], context: context)
        }
      },
      resume: { [weak self] in
        // On a later turn, as `answer`: the sibling that freed the bytes may be in its receive.
        guard let loop = self?.context?.eventLoop else { return }
        loop.execute { self?.resumeWaiting() }
      })
  }

  /// Starts the session's first command waiting for bytes when it fits now: this connection's
  /// own here (bytes a deferred PDU freed after `receive` looked), a sibling's by its owner
  /// (told through its hook). A connection no longer in the full feature phase starts nothing;
  /// its CID may name a successor (reinstated), reached through the session's hooks.
  private func resumeWaiting() {
    let session = connection.session
    let limit = ISCSIConnection.maximumOutstandingBytes
    if session.nextToStart(limit: limit) == connection.cid, connection.isFullFeature, let context {
      perform(connection.startWaiting(), context: context)
    }
    guard let next = session.nextToStart(limit: limit), next != connection.cid || !connection.isFullFeature
    else { return }
    session.hooks[next]?.resume()
  }

  /// A command of this connection's that waited in the session for its CmdSN's turn.
  private func deliverDeferred(_ pdu: ISCSIPDU) {
    guard let context else { return }
    perform(connection.handle(pdu), context: context)
  }

  /// Hands the session's waiting commands, in CmdSN order, to their connections, as long as
  /// the next one is here. One that cannot be delivered (its connection is going) is passed
  /// over, so the commands after it are not held for ever.
  private func deliverWaiting() {
    let session = connection.session
    session.deliverWaiting { cid, pdu in session.hooks[cid]?.deliver(pdu) }
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
    if !wasFullFeature && connection.isFullFeature {
      let session = connection.session
      session.hooks[connection.cid] = hooks()
      if !connection.sessionIsDiscovery {
        let isid = connection.isid.map { String($0 >> 4, radix: 16) + String($0 & 0xF, radix: 16) }.joined()
        // iSCSI names compare without regard to case (RFC 3722 stringprep folds them).
        let nexus = (connection.initiatorName ?? "").lowercased() + ",i,0x" + isid
        self.nexus = nexus
        if connection.joined {
          tasks = server.tasks(of: nexus)
          logger.info(
            "iSCSI connection joins a session",
            metadata: [
              "tsih": "\(session.tsih)", "cid": "\(connection.cid)", "negotiated": "\(connection.negotiated)",
            ])
        } else {
          session.resetsSeen = server.resetsSeen(by: nexus)  // a new nexus starts up to date
          server.sessionStarted(session)
          logger.info("iSCSI login", metadata: ["negotiated": "\(connection.negotiated)"])
          heldLogin = events
          let loop = context.eventLoop
          tasks = server.claimSession(nexus, session: session) { [weak self] in
            guard let self else { return }
            loop.execute { self.releaseLogin() }
          }
          return
        }
      }
    }
    perform(events, context: context)
    deliverWaiting()
    resumeWaiting()
  }

  /// The reinstated session's commands have left the adapters: the login response goes out and
  /// whatever came with the login runs.
  private func releaseLogin() {
    guard let events = heldLogin, let context, context.channel.isActive else { return }
    heldLogin = nil
    // Joinable only now: a connection that joined earlier could run commands before the
    // reinstated session's have left the adapters.
    server.sessionAnswered(connection.session)
    perform(events, context: context)
  }

  private func perform(_ events: [ISCSIConnection.Event], context: ChannelHandlerContext) {
    let channel = context.channel
    let loop = context.eventLoop
    var wrote = false
    for event in events {
      switch event {
      case .send(let out):
        context.write(wrapOutboundOut(out), promise: nil)
        wrote = true
      case .logout(let response, let endsSession):
        if wrote { context.flush() }
        logout(response, endsSession: endsSession, context: context)
        return
      case .close(let reason):
        // The target ends a connection itself only for a refused login (a wrong secret, a
        // stranger) or what the initiator did wrong (a digest error, a segment too long, a
        // ping unanswered): worth an operator's eye, one line per connection.
        if reason.hasPrefix("login failed") {
          logger.info("iSCSI login refused", metadata: ["reason": "\(reason)"])
        } else {
          logger.info("iSCSI connection closed by the target", metadata: ["reason": "\(reason)"])
        }
        context.flush()
        context.close(promise: nil)
        return
      case .execute(let task):
        if let attention = unitAttention(task) {
          // Its answer; then what the bytes it held let start (a waiting command's R2T or
          // execution — dropped, it would hold its slot and bytes for ever).
          perform(connection.complete(task, attention), context: context)
          continue
        }
        let completions = self.completions(context)
        let tasks = self.tasks
        let header = task.header
        tasks?.begin()
        server.run(task, nexus: nexus ?? "") { result in
          tasks?.end()
          completions.add((header, result))
        }
      case .resetLogicalUnit(let lun, let itt):
        server.abortOtherNexuses(lun, resetBy: connection.session)
        server.resetLogicalUnit(lun) { ok in
          loop.execute {
            let events = self.connection.completeReset(initiatorTaskTag: itt, succeeded: ok)
            self.send(events, channel: channel)
          }
        }
      case .resetTarget(let cold, let itt):
        logger.info("iSCSI target reset", metadata: ["kind": "\(cold ? "cold" : "warm")"])
        let server = self.server
        server.abortOtherNexuses(nil, resetBy: connection.session)
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

  /// Answers this connection's logout once the commands it ends have left the adapters
  /// (RFC 7143 §11.15) — those of its initiator port, when the logout ends the session or this
  /// is its only connection; with siblings going on, this connection's own (waiting for the
  /// port would wait for their traffic too) — then closes.
  private func logout(_ response: ByteBuffer, endsSession: Bool, context: ChannelHandlerContext) {
    let channel = context.channel
    let send: @Sendable () -> Void = {
      channel.writeAndFlush(response).whenComplete { _ in
        channel.close(promise: nil)
      }
    }
    logger.debug("iSCSI connection closes", metadata: ["reason": "logout"])
    guard let tasks, endsSession || connection.session.connectionCount <= 1 else {
      // Siblings go on: this connection's own commands are awaited (its running tasks, which
      // its completions take off on this loop), not the port's.
      if connection.running.isEmpty { return send() }
      pendingLogout = send
      return
    }
    let loop = context.eventLoop
    tasks.whenIdle { loop.execute { send() } }
  }

  /// A Logout Response held until this connection's own commands have left the adapters (a
  /// logout beside live sibling connections); sent by the completions that empty them.
  private var pendingLogout: (@Sendable () -> Void)?

  /// A UNIT ATTENTION this nexus owes `task` (a LOGICAL UNIT RESET it has not seen), once
  /// (SAM-5 §5.14): CHECK CONDITION with its sense; REQUEST SENSE gets it as its parameter
  /// data with GOOD status (fixed or descriptor format as its DESC bit asks, cut to its
  /// allocation length and to EDTL, what EDTL cuts reported as overflow), which clears it too;
  /// INQUIRY and REPORT LUNS pass.
  private func unitAttention(_ task: ISCSITask) -> ISCSITaskResult? {
    guard ![0x12, 0xA0].contains(task.cdb[0]) else { return nil }
    let session = connection.session
    guard let nexus, let current = server.resetGenerations.withLockedValue({ $0[task.lun] }),
      current.generation > session.resetsSeen[task.lun] ?? 0
    else { return nil }
    session.resetsSeen[task.lun] = current.generation
    server.sawReset(nexus, lun: task.lun, generation: current.generation)
    guard task.cdb[0] == 0x03 else {
      return ISCSITaskResult(status: 0x02, sense: TargetSense.bytes(0x06, 0x29, current.ascq))
    }
    return .requestSense(0x06, 0x29, current.ascq, answering: task)
  }

  /// Commands the adapter finished, answered in batches on the loop (one flush per batch).
  private var batch: LoopBatch<(ISCSITaskHeader, ISCSITaskResult)>?
  private func completions(_ context: ChannelHandlerContext) -> LoopBatch<(ISCSITaskHeader, ISCSITaskResult)>
  {
    if let batch { return batch }
    let channel = context.channel
    // Weak: the handler owns the batch; once the connection is gone, late results are dropped —
    // but a task management response of a sibling connection held for them still learns that
    // they left the adapter.
    let (session, serial) = (connection.session, connection.memberSerial)
    let made = LoopBatch<(ISCSITaskHeader, ISCSITaskResult)>(loop: context.eventLoop) { [weak self] done in
      guard let self else {
        // The connection's state went with the handler: its tasks leave the session's counts
        // here, as its `complete` would have taken them off.
        session.outstanding -= done.count
        session.outstandingBytes -= done.reduce(0) { $0 + $1.0.expectedLength }
        for due in session.ended(done.map { ISCSISession.key(serial, $0.0.initiatorTaskTag) }) {
          session.hooks[due.cid]?.answer(due)
        }
        if let next = session.nextToStart(limit: ISCSIConnection.maximumOutstandingBytes) {
          session.hooks[next]?.resume()
        }
        return
      }
      // Responses, then commands the freed bytes let start (their R2Ts, their execution); one
      // flush.
      let events = self.connection.complete(done)
      if let context = self.context {
        self.perform(events, context: context)
      } else {
        self.send(events, channel: channel)
      }
      self.resumeWaiting()
      if let logout = self.pendingLogout, self.connection.running.isEmpty {
        self.pendingLogout = nil
        logout()
      }
    }
    batch = made
    return made
  }

  /// Writes what `events` send, without flushing.
  private func write(_ events: [ISCSIConnection.Event], to channel: Channel) {
    for case .send(let out) in events {
      channel.write(out, promise: nil)
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
