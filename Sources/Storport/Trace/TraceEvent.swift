/// What happened (one trace line's `ev` field).
public enum TraceKind: UInt8, Sendable, CaseIterable {
  case callbackEnter, callbackExit
  case lockAcquire, lockRelease
  case dpcInitialize, dpcIssue, dpcStart, dpcEnd, dpcCancel, dpcDropped
  case timerArm, timerCancel, timerDeferred, timerFire, timerStale
  case extTimerInitialize, extTimerRequest, extTimerFire, extTimerFree
  case interruptRaise, interruptDeliver, interruptSpurious
  case requestSubmit, requestStart, requestComplete
  case busy, ready, pause, resume
  case lifecycle, notification, interlocked, violation, diagnostic

  public var name: String {
    switch self {
    case .callbackEnter: return "callback.enter"
    case .callbackExit: return "callback.exit"
    case .lockAcquire: return "lock.acquire"
    case .lockRelease: return "lock.release"
    case .dpcInitialize: return "dpc.initialize"
    case .dpcIssue: return "dpc.issue"
    case .dpcStart: return "dpc.start"
    case .dpcEnd: return "dpc.end"
    case .dpcCancel: return "dpc.cancel"
    case .dpcDropped: return "dpc.dropped"
    case .timerArm: return "timer.arm"
    case .timerCancel: return "timer.cancel"
    case .timerDeferred: return "timer.deferred"
    case .timerFire: return "timer.fire"
    case .timerStale: return "timer.stale"
    case .extTimerInitialize: return "exttimer.initialize"
    case .extTimerRequest: return "exttimer.request"
    case .extTimerFire: return "exttimer.fire"
    case .extTimerFree: return "exttimer.free"
    case .interruptRaise: return "interrupt.raise"
    case .interruptDeliver: return "interrupt.deliver"
    case .interruptSpurious: return "interrupt.spurious"
    case .requestSubmit: return "request.submit"
    case .requestStart: return "request.start"
    case .requestComplete: return "request.complete"
    case .busy: return "flow.busy"
    case .ready: return "flow.ready"
    case .pause: return "flow.pause"
    case .resume: return "flow.resume"
    case .lifecycle: return "lifecycle"
    case .notification: return "notification"
    case .interlocked: return "interlocked"
    case .violation: return "verifier.violation"
    case .diagnostic: return "verifier.diagnostic"
    }
  }
}

/// One event of the runtime trace. On the simulated platform `time` is virtual and the whole
/// sequence is a pure function of the seed and the scenario.
public struct TraceEvent: Sendable, Equatable {
  /// Position in the merged trace, from 1 (``Tracer/events()``): recording order on a platform
  /// that runs one thread at a time, platform-time order on the live one.
  public var sequence: UInt64
  /// Platform time in nanoseconds.
  public var time: UInt64
  /// The simulated processor, or nil for a thread outside the processors (the host, a device).
  public var processor: ProcessorIndex?
  /// Adapter number (0-based, in attach order).
  public var adapter: Int
  public var kind: TraceKind
  /// Virtual IRQL at the time of the event.
  public var irql: Irql
  /// Routine, lock, callback or state name, interned (the event is plain data).
  public var nameID: TraceName
  /// Routine, lock, callback or state name.
  public var name: String { nameID.description }
  /// Kind-specific values (e.g. µs for timer.arm, the result of dpc.issue).
  public var a: UInt64
  public var b: UInt64
  /// The object the event concerns, when it has an identity across events (the STOR_DPC's
  /// number within its adapter, 1-based, for dpc.* events); 0 for none.
  public var object: UInt32 = 0

  /// One JSON object, no trailing newline. Keys are stable; `cpu` is -1 for a thread outside
  /// the processors.
  public var jsonLine: String {
    var s =
      "{\"seq\":\(sequence),\"t_ns\":\(time),\"cpu\":\(processor?.rawValue ?? -1),\"adapter\":\(adapter)"
    s += ",\"ev\":\"\(kind.name)\",\"irql\":\(irql.rawValue),\"name\":\(JSON.quote(name))"
    s += ",\"a\":\(a),\"b\":\(b),\"obj\":\(object)}"
    return s
  }

  /// A human-readable line.
  public var text: String {
    let us = Double(time) / 1000
    return
      "#\(sequence) t=\(us)µs \(processor?.description ?? "host") \(kind.name) \(name) irql=\(irql) a=\(a) b=\(b)"
  }
}
