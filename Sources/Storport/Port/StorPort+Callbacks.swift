extension StorPort {
  /// What decides this adapter's callback contexts (see ``CallbackContext``): fixed while the
  /// adapter runs (kept packed in `runningShape` from the moment it starts running), computed
  /// from the configuration otherwise.
  @inline(__always)
  var shape: AdapterShape {
    let packed = runningShape.load(ordering: .relaxed)
    return packed != 0 ? AdapterShape(packed: packed) : currentShape
  }

  var currentShape: AdapterShape {
    AdapterShape(
      isVirtual: isVirtual, isHalfDuplex: isHalfDuplex, channels: locks.channels.count,
      perMessage: configuration.interruptSynchronizationMode == .synchronizePerMessage
        && !locks.messages.isEmpty)
  }

  /// The one way into a miniport. Every callback passes here, in the context
  /// ``CallbackContext`` gives its kind: count it in (gated kinds start only while the adapter
  /// accepts callbacks), raise the IRQL, take the port's locks (or a channel), let `admit`
  /// decide under them (a timer consumes its expiry there), invoke the routine — pushing its
  /// frame, checking IRQL and locks at return — then release, lower and count it out.
  ///
  /// - Returns: the routine's result, or nil if the adapter no longer accepts callbacks (for
  ///   gated kinds) or `admit` said no.
  @discardableResult @inline(__always)
  func call<R>(
    _ kind: CallbackKind, _ routine: @autoclosure () -> TraceName, on p: Processor,
    request: StorRequest? = nil,
    admit: () -> Bool = { true }, _ body: () -> R
  ) -> R? {
    let context = CallbackContext.of(kind, shape)
    if context.gated { guard beginCallback() else { return nil } }
    defer { if context.gated { endCallback() } }
    let old = p.raise(to: context.irql)
    defer { p.lower(to: old) }
    let channel = takePortLocks(context.portLocks, kind, on: p, request: request)
    defer { releasePortLocks(context.portLocks, kind, channel: channel, on: p) }
    guard admit() else { return nil }
    return p.invoke(self, kind.role, routine(), allowed: context.allowed, body)
  }

  /// ``call(_:_:on:request:admit:_:)`` for kinds that are never gated and always admitted.
  @inline(__always)
  func callAlways<R>(
    _ kind: CallbackKind, _ routine: @autoclosure () -> TraceName, on p: Processor, _ body: () -> R
  ) -> R {
    guard let r = call(kind, routine(), on: p, body) else {
      preconditionFailure("bug in swift-storport: \(kind) was refused, but it is never gated")
    }
    return r
  }

  /// Takes the locks of `set` in the order of D4 (StartIo → channels → Interrupt); returns the channel
  /// taken, if one was.
  @inline(__always)
  private func takePortLocks(
    _ set: PortLockSet, _ kind: CallbackKind, on p: Processor, request: StorRequest?
  ) -> Int? {
    if set.isEmpty { return nil }
    if set.contains(.startIo) { _ = p.acquire(locks.startIo, byPort: true) }
    var channel: Int? = nil
    if set.contains(.channel) {
      let c = acquireChannel(on: p)
      request?.channelNumber = UInt32(c)
      channel = c
    }
    if set.contains(.allChannels) { acquireAllChannels(on: p) }
    if set.contains(.interrupt) { _ = acquireInterruptLock(on: p, byPort: true) }
    if set.contains(.message) {
      if case .messageSignaledInterrupt(let m) = kind, Int(m) < locks.messageRefs.count {
        _ = locks.messageRefs[Int(m)]._withUnsafeGuaranteedRef { p.acquire($0, byPort: true) }
      } else {
        _ = acquireInterruptLock(on: p, byPort: true)
      }
    }
    return channel
  }

  @inline(__always)
  private func releasePortLocks(_ set: PortLockSet, _ kind: CallbackKind, channel: Int?, on p: Processor) {
    if set.isEmpty { return }
    if set.contains(.message) {
      if case .messageSignaledInterrupt(let m) = kind, Int(m) < locks.messageRefs.count {
        locks.messageRefs[Int(m)]._withUnsafeGuaranteedRef { p.release($0) }
      } else {
        releaseInterruptLock(on: p)
      }
    }
    if set.contains(.interrupt) { releaseInterruptLock(on: p) }
    if set.contains(.allChannels) { releaseAllChannels(on: p) }
    if let channel {
      locks.channelRefs[channel]._withUnsafeGuaranteedRef { p.release($0) }
      platform.signal(ObjectIdentifier(locks.channelWaitToken))
    }
    if set.contains(.startIo) { p.release(locks.startIo) }
  }
}
