extension StorPort {
  // MARK: - Submission (harness / front ends)

  /// Submits a request to the adapter, from any thread. It flows BuildIo (no lock, may overlap)
  /// → StartIo (StartIo lock, or a concurrent channel) → RequestComplete, when the adapter is
  /// running and neither paused nor busy (rules 57, 73, 74). `completion` runs on the
  /// completing processor, inside the miniport's completion context; keep it short.
  func submit(_ request: StorRequest, completion: (@Sendable (StorRequest) -> Void)? = nil) {
    request.completion = completion
    request._srbStatus = .pending
    request.resetRetries = 0
    request.owner.store(StorRequest.Owner.port.rawValue, ordering: .releasing)
    request.submittedAt = platform.now().nanoseconds
    request.submissions &+= 1
    Processor.withCurrent { p in dispatchSubmitted(request, from: p) }
  }

  /// The rest of ``submit(_:completion:)``: to the calling processor, or one the platform
  /// picks when the caller is not a processor.
  @inline(__always)
  private func dispatchSubmitted(_ request: StorRequest, from p: Processor?) {
    if checked {
      request.history.clear()
      request.history.record(.submitted, at: request.submittedAt, on: p?.index)
    }
    let n = processorCount
    var target = p?.index ?? pipeline.submitCursor.wrappingAdd(1, ordering: .relaxed).oldValue % n
    if p == nil && variesPlacements { target = platform.choose(.submitProcessor, count: n, default: target) }
    if let p { p.raceDetector?.release(p.index, SyncObject(request)) }
    trace(on: p, .requestSubmit, request.function.traceName, a: request.tag)
    post(.submit(Unmanaged.passUnretained(self), request), to: target)
  }

  /// Work items at most that one loan runs on the borrowing thread (``submitting(preferring:_:)``):
  /// a request's own work is a few (BuildIo, StartIo, an interrupt, a DPC); the bound keeps a
  /// DPC that re-issues itself, or a long chain of completions, off the host's thread.
  static let loanWorkLimit = 64

  /// ``Adapter/submitting(preferring:_:)``.
  func submitting(preferring processor: Int, _ body: () -> Void) {
    precondition(processor >= 0, "bug in the host: a negative processor index \(processor)")
    if Processor.currentUnretained == nil {
      let n = processorCount
      for k in 0..<n {
        let p = (processor % n + k) % n
        guard platform.lend(p) else { continue }
        let left = processorTable[p]._withUnsafeGuaranteedRef { $0.runLent(body, limit: Self.loanWorkLimit) }
        platform.endLoan(p)
        if left { platform.wake(p) }
        return
      }
    }
    body()
  }

  func dispatchNew(_ request: StorRequest, on p: Processor) {
    let s = state
    if s == .failed || s == .removed {
      completeByPort(request, .noHba, on: p)
      return
    }
    let config = configuration
    let direct = pipeline.flow.withLock { f -> Bool in
      if f.paused || f.holdForStop || f.busyRemaining > 0 || !f.queue.isEmpty || s != .running
        || !f.admits(request, config)
      {
        f.queue.append(request)
        return false
      }
      f.enter(request)
      return true
    }
    if direct { buildAndStart(request, on: p) }
  }

  /// Runs queued requests while the gates are open. Runs as port work at DISPATCH.
  func pump(on p: Processor) {
    pipeline.flow.withLock { $0.pumpScheduled = false }
    while true {
      let running = state == .running
      let config = configuration
      let next = pipeline.flow.withLock { f -> StorRequest? in
        guard running, !f.paused, !f.holdForStop, f.busyRemaining == 0 else { return nil }
        // In order: the head waits for its LUN (and everything behind it waits too).
        guard let head = f.queue.peekFirst, f.admits(head, config), let r = f.queue.popFirst() else {
          return nil
        }
        f.enter(r)
        return r
      }
      guard let request = next else { return }
      buildAndStart(request, on: p)
    }
  }

  /// Queues a `pump` on the calling processor (or processor 0), at most one at a time.
  func schedulePump(on p: Processor?) {
    let needed = pipeline.flow.withLock { f -> Bool in
      if f.pumpScheduled || f.queue.isEmpty { return false }
      f.pumpScheduled = true
      return true
    }
    guard needed else { return }
    post(
      to: p?.index ?? 0,
      .port { [self] in
        if let cpu = Processor.current { pump(on: cpu) }
      })
  }

  func buildAndStart(_ request: StorRequest, on p: Processor) {
    // Submission (or the completion a re-issued request went through) → BuildIo / StartIo.
    p.raceDetector?.acquire(p.index, SyncObject(request))
    request.owner.store(StorRequest.Owner.miniport.rawValue, ordering: .releasing)
    pipeline.timeouts.enter(request, defaultSeconds: configuration.defaultRequestTimeoutSeconds)
    if entry.data.hasBuildIo {
      if checked { request.history.record(.buildIo, at: platform.now().nanoseconds, on: p.index) }
      let proceed = callAlways(.buildIo, .hwStorBuildIo, on: p) {
        withExtension { entry.buildIo($0, request) }
      }
      // FALSE: the miniport completes the request itself; it never reaches StartIo (R-S12).
      if request.isCompleted {
        if proceed {
          violation(
            .buildIoCompletedAndProceeded, on: p,
            "HwStorBuildIo completed the request (tag \(request.tag)) and returned TRUE; it must return FALSE"
          )
        }
        return
      }
      guard proceed else { return }
    }
    startIo(request, on: p)
  }

  private func startIo(_ request: StorRequest, on p: Processor) {
    let started = call(
      .startIo, .hwStorStartIo, on: p, request: request,
      admit: {
        if checked { request.history.record(.startIo, at: platform.now().nanoseconds, on: p.index) }
        trace(
          on: p, .requestStart, request.function.traceName, a: request.tag, b: UInt64(request.channelNumber))
        return true
      }
    ) { withExtension { entry.startIo($0, request) } }
    if started == nil { completeByPort(request, .noHba, on: p) }
  }

  // MARK: - Completion

  /// `StorPortNotification(RequestComplete, HwDeviceExtension, Srb)`: the port takes the request
  /// back (R-N1). A second completion, or completing a request the miniport does not own, is
  /// reported and ignored (rule 72). `SRB_STATUS_BUSY` re-issues it through BuildIo/StartIo
  /// (R-S11).
  public func requestComplete(_ request: StorRequest) {
    Processor.withCurrent { p in requestComplete(request, on: p) }
  }

  private func requestComplete(_ request: StorRequest, on p: Processor?) {
    if let p, p.servicePoints { p.point(.service) }
    if let p { p.raceDetector?.release(p.index, SyncObject(request)) }
    let (exchanged, original) = request.owner.compareExchange(
      expected: StorRequest.Owner.miniport.rawValue, desired: StorRequest.Owner.completed.rawValue,
      ordering: .acquiringAndReleasing)
    guard exchanged else {
      // Completed before: completed now, or completed (BUSY, BUS_RESET) and taken back by the
      // port for re-issue — the check follows a request across its re-issues.
      let completedBefore =
        original == StorRequest.Owner.completed.rawValue
        || (original == StorRequest.Owner.port.rawValue
          && (request.busyRetries > 0 || request.resetRetries > 0))
      if completedBefore {
        violation(
          .requestCompletedTwice, on: p,
          "RequestComplete on a request (tag \(request.tag)) that was already completed"
            + (original == StorRequest.Owner.port.rawValue ? " and is waiting to be re-issued" : ""))
      } else {
        violation(
          .requestNotOwned, on: p,
          "RequestComplete on a request (tag \(request.tag)) the miniport never received"
            + (original == StorRequest.Owner.port.rawValue ? " (the port still holds it)" : ""))
      }
      return
    }
    if checked, let buffer = request.dataBuffer,
      deviceBuffers.contains(UInt(bitPattern: buffer), serial: serialExecution)
    {
      violation(
        .requestCompletedWhileDeviceOwnsIt, on: p,
        "RequestComplete on a request (tag \(request.tag)) whose data buffer a command in the device still "
          + "reads or writes")
    }
    if request.srbStatus == .pending {
      violation(
        .requestCompletedPending, on: p, "RequestComplete with SRB_STATUS_PENDING (tag \(request.tag))")
      request._srbStatus = .error
    }
    trace(
      on: p, .requestComplete, request.function.traceName, a: request.tag,
      b: UInt64(request.srbStatus.rawValue))
    if checked {
      request.history.record(
        .completed, at: platform.now().nanoseconds, on: p?.index, status: request.srbStatus.rawValue)
    }
    finish(request, on: p)
  }

  /// `StorPortCompleteRequest(HwDeviceExtension, PathId, TargetId, Lun, SrbStatus)`: completes
  /// every request the miniport holds for that address with `srbStatus` — 0xFF in `pathId`,
  /// `targetId` or `lun` matches any (SP_UNTAGGED). Each one completes as RequestComplete would
  /// (a BUSY or BUS_RESET status re-issues it); the miniport must not complete them again
  /// (REQUEST_COMPLETED_TWICE). Discouraged by SDV (R-N4) but used by real miniports from
  /// HwStorResetBus. SRB_STATUS_PENDING is refused (REQUEST_COMPLETED_PENDING).
  public func completeRequest(pathId: UInt8, targetId: UInt8, lun: UInt8, srbStatus: SrbStatus) {
    guard let p = serviceContext("StorPortCompleteRequest") else { return }
    guard srbStatus != .pending else {
      violation(.requestCompletedPending, on: p, "StorPortCompleteRequest with SRB_STATUS_PENDING")
      return
    }
    func matches(_ r: StorRequest) -> Bool {
      (pathId == 0xFF || r.pathId == pathId) && (targetId == 0xFF || r.targetId == targetId)
        && (lun == 0xFF || r.lun == lun)
    }
    let held = pipeline.flow.withLock { f in f.inMiniport.filter(matches) }
    trace(
      on: p, .notification, "StorPortCompleteRequest", a: UInt64(held.count), b: UInt64(srbStatus.rawValue))
    for r in held {
      let (exchanged, _) = r.owner.compareExchange(
        expected: StorRequest.Owner.miniport.rawValue, desired: StorRequest.Owner.completed.rawValue,
        ordering: .acquiringAndReleasing)
      guard exchanged else { continue }  // completed meanwhile by another path
      r._srbStatus = srbStatus
      if checked {
        r.history.record(.completed, at: platform.now().nanoseconds, on: p.index, status: srbStatus.rawValue)
      }
      trace(on: p, .requestComplete, r.function.traceName, a: r.tag, b: UInt64(srbStatus.rawValue))
      finish(r, on: p)
    }
  }

  /// Completion by the port itself (adapter gone, stopped with I/O queued).
  func completeByPort(_ request: StorRequest, _ status: SrbStatus, on p: Processor?) {
    request._srbStatus = status
    if checked {
      request.history.record(
        .completedByPort, at: platform.now().nanoseconds, on: p?.index, status: status.rawValue)
    }
    request.owner.store(StorRequest.Owner.completed.rawValue, ordering: .releasing)
    trace(on: p, .requestComplete, request.function.traceName, a: request.tag, b: UInt64(status.rawValue))
    runCompletion(request, on: p)
  }

  private func finish(_ request: StorRequest, on p: Processor?) {
    // BUSY: re-issue (R-S11). BUS_RESET (handed back by HwStorResetBus): retried a few times.
    if request.srbStatus == .busReset {
      request.resetRetries &+= 1
      if request.resetRetries <= 4 { request._srbStatus = .busy }
    }
    let reissue = request.srbStatus == .busy && !busyOutlivedTimeout(request, on: p)
    if !reissue { counters.completedRequests.add(1, ordering: .relaxed) }
    // The bucket second after the deadline second: the request surely outlived its timeout.
    if checked && request.timeoutTracked && platform.now().nanoseconds / 1_000_000_000 > request.timeoutEpoch
    {
      violation(
        .requestTimedOut, on: p,
        "request (tag \(request.tag)) outlived its timeout and came back only after the port reset the bus; "
          + "history: \(request.history)")
    }
    let wake = pipeline.flow.withLock { f -> Bool in
      f.leave(request)
      if f.busyRemaining > 0 { f.busyRemaining -= 1 }
      return !f.queue.isEmpty && f.busyRemaining == 0 && !f.paused
    }
    pipeline.timeouts.leave(request)
    if reissue {
      reissueBusy(request, on: p)
    } else {
      request.busyRetries = 0
      runCompletion(request, on: p)
    }
    if wake { schedulePump(on: p) }
  }

  /// The submitter's completion routine, run as the submitter's code (not the miniport's).
  private func runCompletion(_ request: StorRequest, on p: Processor?) {
    withExtension { entry.requestReturned($0, request) }
    guard let completion = request.completion else { return }
    if let p { p.runHostCode { completion(request) } } else { completion(request) }
  }

  /// Whether `request`, completed with SRB_STATUS_BUSY, has been busy for its whole timeout
  /// (its TimeOutValue, or the adapter's default) since its first BUSY: then the port stops
  /// re-issuing it and completes it to its submitter with SRB_STATUS_BUSY — a miniport that
  /// stays busy for ever (a controller that died during a reset) ends each request in bounded
  /// time instead of cycling it through StartIo with no end. The documents say only that BUSY
  /// makes Storport re-issue the request (R-S11); the bound is this port's, in the spirit of the
  /// I/O timer that bounds a request the miniport holds (R-N11).
  private func busyOutlivedTimeout(_ request: StorRequest, on p: Processor?) -> Bool {
    guard request.busyRetries > 0 else { return false }
    let seconds =
      request.timeoutSeconds == 0 ? configuration.defaultRequestTimeoutSeconds : request.timeoutSeconds
    let limit = min(UInt64(max(seconds, 1)), RequestTimeouts.maximumTimeoutSeconds) * 1_000_000_000
    guard platform.now().nanoseconds &- request.busySince >= limit else { return false }
    trace(on: p, .notification, "SRB_STATUS_BUSY for the request's whole timeout: completed BUSY")
    return true
  }

  /// R-S11: a request completed with SRB_STATUS_BUSY goes through BuildIo/StartIo again — at
  /// once the first time, then after a growing delay (up to 1 ms), so a miniport that stays
  /// busy (a controller reset) does not turn the port into a spin loop; for at most the
  /// request's timeout (``busyOutlivedTimeout(_:on:)``). The port's own FLUSH keeps bypassing
  /// the gates that hold client I/O during a stop.
  func reissueBusy(_ request: StorRequest, on p: Processor?) {
    request._srbStatus = .pending
    request.owner.store(StorRequest.Owner.port.rawValue, ordering: .releasing)
    if request.busyRetries == 0 { request.busySince = platform.now().nanoseconds }
    request.busyRetries &+= 1
    if checked { request.history.record(.reissued, at: platform.now().nanoseconds, on: p?.index) }
    let cpu = p?.index ?? 0
    let delay: UInt64 =
      request.busyRetries <= 1 ? 0 : min(1_000_000, 1_000 << UInt64(min(request.busyRetries, 10)))
    let work: Work
    if request.portInternal {
      work = .port { [self] in
        guard let cpu = Processor.current else { return }
        pipeline.flow.withLock { $0.enter(request) }
        buildAndStart(request, on: cpu)
      }
    } else {
      work = .submit(Unmanaged.passUnretained(self), request)
    }
    if delay == 0 {
      post(to: cpu, work)
    } else {
      pipeline.busyRetryTarget.schedule(work, on: cpu, after: delay)
    }
  }

  // MARK: - Flow control

  /// `StorPortBusy(HwDeviceExtension, RequestsToComplete)`: no new StartIo until that many
  /// outstanding requests complete (all of them if fewer are outstanding) or StorPortReady
  /// (rule 73). Timers and DPCs keep running (D14).
  @discardableResult
  public func busy(requestsToComplete: UInt32) -> Bool {
    let n = pipeline.flow.withLock { f -> Int in
      f.busyRemaining = min(Int(requestsToComplete), f.outstanding)
      return f.busyRemaining
    }
    trace(on: Processor.current, .busy, "StorPortBusy", a: UInt64(requestsToComplete), b: UInt64(n))
    return true
  }

  /// `StorPortReady(HwDeviceExtension)`: ends a busy state.
  @discardableResult
  public func ready() -> Bool {
    pipeline.flow.withLock { $0.busyRemaining = 0 }
    trace(on: Processor.current, .ready, "StorPortReady")
    schedulePump(on: Processor.current)
    return true
  }

  /// `StorPortPause(HwDeviceExtension, TimeOut)`: holds all new I/O until StorPortResume or
  /// `seconds` elapse (rule 74); timers and DPCs keep running (rule 14, D14).
  @discardableResult
  public func pause(seconds: UInt32) -> Bool {
    let generation = pipeline.flow.withLock { f -> UInt64 in
      f.paused = true
      f.pauseGeneration &+= 1
      return f.pauseGeneration
    }
    trace(on: Processor.current, .pause, "StorPortPause", a: UInt64(seconds))
    if seconds != UInt32.max {
      platform.arm(
        deadline: PlatformTime(nanoseconds: platform.now().nanoseconds &+ UInt64(seconds) * 1_000_000_000),
        target: pipeline.pauseTarget,
        cookie: generation, processor: 0)
    }
    return true
  }

  /// `StorPortResume(HwDeviceExtension)`.
  @discardableResult
  public func resume() -> Bool {
    pipeline.flow.withLock {
      $0.paused = false
      $0.pauseGeneration &+= 1
    }
    trace(on: Processor.current, .resume, "StorPortResume")
    schedulePump(on: Processor.current)
    return true
  }

  /// `StorPortSetDeviceQueueDepth(HwDeviceExtension, PathId, TargetId, Lun, Depth)`: at most
  /// `depth` requests of that LUN in the miniport at once. False for a depth of 0.
  @discardableResult
  public func setDeviceQueueDepth(pathId: UInt8, targetId: UInt8, lun: UInt8, depth: Int) -> Bool {
    guard depth > 0 else { return false }
    pipeline.flow.withLock { $0.setDepth(depth, pathId: pathId, targetId: targetId, lun: lun) }
    schedulePump(on: Processor.current)
    return true
  }

  /// True while StorPortPause is in force.
  var isPaused: Bool { pipeline.flow.withLock { $0.paused } }

  /// `StorPortGetStartIoPerfParams(HwDeviceExtension, Srb, StartIoPerfParams)` (R-S10).
  public func getStartIoPerfParams(_ request: StorRequest) -> StartIoPerformanceParameters {
    let cpu = Processor.current?.index ?? 0
    let messages = max(1, Int(configuration.messageCount))
    let n = processorCount
    // The highest message whose interrupts go to this processor (message m → processor
    // m % n, see raiseInterrupt), so a miniport that keeps message 0 for admin work still gets
    // an I/O message on processor 0.
    let message = stride(from: messages - 1, through: 0, by: -1).first { $0 % n == cpu } ?? cpu % messages
    return StartIoPerformanceParameters(messageNumber: UInt32(message), channelNumber: request.channelNumber)
  }
}
