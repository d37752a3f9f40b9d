import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Storport

/// Resets and their UNIT ATTENTIONs: LOGICAL UNIT RESET and TARGET WARM / COLD RESET through
/// the adapters, and which resets each I_T nexus has seen.
extension ISCSIServer {
  /// What `nexus` has seen (a new nexus: every reset so far).
  func resetsSeen(by nexus: String) -> [UInt16: UInt64] {
    let current = resetGenerations.withLockedValue { $0.mapValues(\.generation) }
    return nexusSeen.withLockedValue { table in
      if let seen = table[nexus] { return seen }
      if table.count >= Self.nexusLimit {
        // Forget those that have seen every reset; if none has, forget one (it logs in again
        // up to date, missing at most that UNIT ATTENTION).
        table = table.filter { _, seen in current.contains { seen[$0.key] ?? 0 < $0.value } }
        if table.count >= Self.nexusLimit, let any = table.keys.first { table[any] = nil }
      }
      table[nexus] = current
      return current
    }
  }

  /// `nexus` has now seen `generation` of `lun`'s resets.
  func sawReset(_ nexus: String, lun: UInt16, generation: UInt64) {
    nexusSeen.withLockedValue { $0[nexus, default: [:]][lun] = generation }
  }

  /// A LOGICAL UNIT RESET of `lun` (nil: a target reset, every LU) from `session`'s I_T
  /// nexus aborts the other nexuses' tasks there with TASK ABORTED status (SAM-5 §5.6 and
  /// §7.7; the Control mode page says TAS one) — each session's connections told through their
  /// hooks, on the event loop, before the reset goes to the adapter. The issuing nexus's own
  /// are aborted without a response (``ISCSIConnection``). NBD connections are not nexuses
  /// with task sets: their requests run on. The aborts stand even if the reset then fails
  /// (FUNCTION REJECTED to the issuer, no UNIT ATTENTION): they are made before its outcome is
  /// known, as the tasks must not start after it.
  func abortOtherNexuses(_ lun: UInt16?, resetBy session: ISCSISession) {
    let others = sessions.withLockedValue { Array($0.values) }.filter { $0 !== session }
    for other in others {
      for hooks in Array(other.hooks.values) { hooks.anotherNexusReset(lun) }
    }
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
      // Answered once the commands sent before the reset have left the adapter (the miniport
      // may complete the reset first and flush them later): none of them lands after it.
      disk.whenDrained { self.finishReset(lun, disk, ok: ok, ascq: ascq, completion) }
    }
  }

  private func finishReset(
    _ lun: UInt16, _ disk: AdapterDisk, ok: Bool, ascq: UInt8,
    _ completion: @escaping @Sendable (Bool) -> Void
  ) {
    if ok {
      disk.reservations.reset()
      resetGenerations.withLockedValue { $0[lun] = (($0[lun]?.generation ?? 0) + 1, ascq) }
    }
    completion(ok)
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

  /// An I_T nexus is gone (logout or connection loss): its RESERVE reservations end.
  func nexusLost(_ nexus: String) {
    for disk in disks.values { disk.reservations.nexusLost(nexus) }
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
