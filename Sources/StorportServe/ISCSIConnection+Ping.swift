extension ISCSIConnection {
  /// The target's liveness check of a full-feature connection (RFC 7143 §11.19: a NOP-In
  /// carrying a Target Transfer Tag, which the initiator must answer with a NOP-Out carrying
  /// it back). Call it periodically with the time now and how long the connection has been
  /// silent (ns, one monotonic clock): after `interval` of silence a ping goes out (StatSN not
  /// advanced, ITT all ones, no data); a ping unanswered for `timeout` ends the connection —
  /// an initiator gone without a FIN (a half-open connection) does not hold its session, its
  /// tasks and their buffers forever. Before login, the connection ends at ``loginDeadline``
  /// (a client that connects and never logs in holds nothing for long).
  public mutating func tick(now: UInt64, silentFor: UInt64, interval: UInt64, timeout: UInt64) -> [Event] {
    if phase == .login, let deadline = loginDeadline, now >= deadline {
      return close("the login did not complete in time")
    }
    guard phase == .fullFeature else { return [] }
    if let ping = pendingPing {
      guard now &- ping.sentAt >= timeout else { return [] }
      return close("no NOP-Out answered the target's ping within \(timeout / 1_000_000) ms")
    }
    guard silentFor >= interval else { return [] }
    lastPingTag = lastPingTag == 0xFFFF_FFFE ? 1 : lastPingTag + 1
    pendingPing = (lastPingTag, now)
    var ping = ISCSIPDU(.nopIn)
    ping.initiatorTaskTag = 0xFFFF_FFFF
    ping.setBE32(20, lastPingTag)
    return [encode(stamped(ping, advance: false))]
  }

  /// A ping of the target's is waiting for its answer.
  public var isPinging: Bool { pendingPing != nil }
}
