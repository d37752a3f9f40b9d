import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Storport

/// Sessions: their start, their end, reinstatement (RFC 7143 §6.3.5) and the per-port command
/// counts that make a reinstating login wait.
extension ISCSIServer {
  /// A normal session has logged in (its leading connection): counted.
  func sessionStarted(_ session: ISCSISession) {
    metrics?.session(.iscsi, 1)
  }

  /// Its login response has gone out: connections may join it, by its TSIH (not if it has
  /// ended meanwhile).
  func sessionAnswered(_ session: ISCSISession) {
    guard !session.hasEnded else { return }
    sessionsByTSIH.withLockedValue { $0[session.tsih] = session }
  }

  /// A session's last connection has left, or a newer session reinstated it (once per
  /// session): its TSIH is free again; a normal session is no longer counted or joinable, and
  /// its I_T nexus is lost — RESERVE reservations end (SPC-2), persistent ones stay — unless a
  /// newer session of the same initiator port reinstated it (its reservations ended then).
  func sessionEnded(_ session: ISCSISession, nexus: String?) {
    guard !session.hasEnded else { return }
    session.hasEnded = true
    releaseTSIH(session.tsih)
    guard !session.isDiscovery, let nexus else { return }
    sessionsByTSIH.withLockedValue { table in
      if table[session.tsih] === session { table[session.tsih] = nil }
    }
    metrics?.session(.iscsi, -1)
    if releaseSession(nexus, by: session) { nexusLost(nexus) }
  }

  /// The command count of initiator port `nexus` (made when it has none), kept while the port
  /// has a session or a command in an adapter; past `nexusLimit` ports, idle ones without a
  /// session are forgotten.
  func tasks(of nexus: String) -> NexusTasks {
    let live = sessions.withLockedValue { Set($0.keys) }
    return nexusTasks.withLockedValue { table -> NexusTasks in
      if let known = table[nexus] { return known }
      if table.count >= Self.nexusLimit {
        table = table.filter { port, tasks in live.contains(port) || tasks.running > 0 }
      }
      let made = NexusTasks()
      table[nexus] = made
      return made
    }
  }

  /// `session` has logged in for initiator port `nexus`; returns the port's command count,
  /// which its connections keep up to date. A session the port already had is reinstated
  /// (RFC 7143 §6.3.5, ErrorRecoveryLevel 0): every connection of it is closed and the nexus is
  /// lost — its RESERVE reservations end now, before the new session can make any — so the
  /// old connections' later closes do not touch the new session's. `ready` is called (on any
  /// thread) once the old connections have closed and none of the port's commands is left in
  /// an adapter — those of a connection that dropped earlier included: only then may the new
  /// session answer its login, or an old write could land after a new one.
  func claimSession(
    _ nexus: String, session: ISCSISession, ready: @escaping @Sendable () -> Void
  ) -> NexusTasks {
    let previous = sessions.withLockedValue { $0.updateValue(session, forKey: nexus) }
    let tasks = self.tasks(of: nexus)
    guard let previous, previous !== session else {
      tasks.whenIdle(ready)
      return tasks
    }
    nexusLost(nexus)
    // After its close, an old connection submits nothing more (its reads end before it goes
    // inactive); what it submitted is counted in `tasks`.
    let closing = Array(previous.hooks.values)
    let left = NIOLockedValueBox(closing.count)
    if closing.isEmpty { tasks.whenIdle(ready) }
    for hooks in closing {
      hooks.whenClosed {
        if left.withLockedValue({ n -> Int in
          n -= 1
          return n
        }) == 0 {
          tasks.whenIdle(ready)
        }
      }
      hooks.close()
    }
    sessionEnded(previous, nexus: nexus)
    return tasks
  }

  /// `session` ended: true if it still held `nexus` (which then ends), false if a newer
  /// session had reinstated it.
  func releaseSession(_ nexus: String, by session: ISCSISession) -> Bool {
    sessions.withLockedValue { table in
      guard table[nexus] === session else { return false }
      table[nexus] = nil
      return true
    }
  }
}
