import NIOConcurrencyHelpers
import Storport

/// Which requests a disk has in its adapter, by the reset epoch they were sent in, so that a
/// LOGICAL UNIT RESET answers only once every command sent before it has left the adapter
/// (SAM-5 §7.9: the reset completes after the tasks it aborts). A miniport may complete its
/// reset request before the commands it had — the NVMe sample flushes them later, and the port
/// re-issues them — and a command of another session finishing after the reset's response
/// would overwrite what that session's initiator writes after it.
struct DrainState: Sendable {
  var epoch: UInt64 = 0
  /// Requests in the adapter per epoch (no entry: none).
  var inFlight: [UInt64: Int] = [:]
  /// Who waits for every epoch up to theirs to empty.
  var waiters: [(epoch: UInt64, resume: @Sendable () -> Void)] = []

  /// The waiters whose epochs and all older ones are empty, removed.
  mutating func ready() -> [@Sendable () -> Void] {
    let oldest = inFlight.keys.min()
    var due: [@Sendable () -> Void] = []
    waiters.removeAll { w in
      guard oldest.map({ $0 > w.epoch }) ?? true else { return false }
      due.append(w.resume)
      return true
    }
    return due
  }
}

extension AdapterDisk {
  /// Submits `r` to the adapter, counted in the current epoch until it completes.
  func submit(_ r: StorRequest, _ completion: @escaping @Sendable (StorRequest) -> Void) {
    let epoch = drain.withLockedValue { d -> UInt64 in
      d.inFlight[d.epoch, default: 0] += 1
      return d.epoch
    }
    adapter.submit(r) { [self] done in
      let due = drain.withLockedValue { d -> [@Sendable () -> Void] in
        let left = d.inFlight[epoch, default: 0] - 1
        precondition(left >= 0, "bug in swift-storport: a disk request ended twice")
        d.inFlight[epoch] = left == 0 ? nil : left
        return d.ready()
      }
      completion(done)
      for resume in due { resume() }
    }
  }

  /// Calls `body` once every request submitted before this call has completed (at once when
  /// none is in the adapter); later requests do not delay it.
  func whenDrained(_ body: @escaping @Sendable () -> Void) {
    let due = drain.withLockedValue { d -> [@Sendable () -> Void] in
      d.waiters.append((d.epoch, body))
      d.epoch &+= 1
      return d.ready()
    }
    for resume in due { resume() }
  }
}
