import NIOConcurrencyHelpers

/// The commands of one I_T nexus (an initiator port: its name and ISID) that are in the
/// adapters, whichever of the port's connections sent them — counted so that a session which
/// reinstates the port (RFC 7143 §6.3.5) answers its login only once the old session's
/// commands have left. With ErrorRecoveryLevel 0 the old session's tasks end with it, but an
/// adapter cannot take back a write it has started: one of the old session's writes finishing
/// after the new session's write of the same blocks would overwrite it.
///
/// Counting is per nexus, not per connection, because a connection that dropped is gone from
/// the session table while its commands may still be in the device; the initiator logs in
/// again and rewrites those blocks.
final class NexusTasks: Sendable {
  private struct State {
    var running = 0
    var waiters: [@Sendable () -> Void] = []
  }
  private let state = NIOLockedValueBox(State())

  /// Commands of this port in the adapters now.
  var running: Int { state.withLockedValue { $0.running } }

  /// One command of this port has gone to an adapter.
  func begin() { state.withLockedValue { $0.running += 1 } }

  /// One command of this port has come back from its adapter; the waiters run when none is
  /// left (on this thread, outside the lock).
  func end() {
    let due = state.withLockedValue { s -> [@Sendable () -> Void] in
      precondition(s.running > 0, "bug in swift-storport: a command of an I_T nexus ended twice")
      s.running -= 1
      guard s.running == 0 else { return [] }
      defer { s.waiters = [] }
      return s.waiters
    }
    for resume in due { resume() }
  }

  /// Calls `body` once no command of this port is in an adapter: at once (on this thread)
  /// when none is, otherwise on the thread that completes the last one.
  func whenIdle(_ body: @escaping @Sendable () -> Void) {
    let now = state.withLockedValue { s -> Bool in
      if s.running == 0 { return true }
      s.waiters.append(body)
      return false
    }
    if now { body() }
  }
}
