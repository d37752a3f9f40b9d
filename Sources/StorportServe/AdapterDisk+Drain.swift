import NIOConcurrencyHelpers
import Storport

/// Which requests a disk has in its adapter, by the reset epoch they were sent in, so that a
/// LOGICAL UNIT RESET answers only once every command sent before it has left the adapter
/// (SAM-5 §7.9: the reset completes after the tasks it aborts). A miniport may complete its
/// reset request before the commands it had — the NVMe sample flushes them later, and the port
/// re-issues them — and a command of another session finishing after the reset's response
/// would overwrite what that session's initiator writes after it.
///
/// Epochs are consecutive; the counts of those from the oldest with requests in the adapter to
/// the current one are kept in order, so a request's start and end cost an array index, not a
/// hash.
struct DrainState: Sendable {
  /// The current epoch: requests submitted now are counted in it.
  private(set) var epoch: UInt64 = 0
  /// The epoch of `counts[0]`.
  private var oldest: UInt64 = 0
  /// Requests in the adapter for epochs `oldest…epoch` (never empty; the first is 0 only when
  /// it is the current epoch: nothing is in the adapter).
  private var counts: [Int] = [0]
  /// Who waits for every epoch up to theirs to empty.
  private var waiters: [(epoch: UInt64, resume: @Sendable () -> Void)] = []

  /// A request enters the adapter: counted in the current epoch, which is returned.
  mutating func begin() -> UInt64 {
    counts[counts.count - 1] += 1
    return epoch
  }

  /// A request of `epoch` left the adapter: the waiters now due, removed.
  mutating func end(_ epoch: UInt64) -> [@Sendable () -> Void] {
    precondition(
      epoch >= oldest && epoch <= self.epoch, "bug in swift-storport: a disk request of an unknown epoch")
    let i = Int(epoch - oldest)
    precondition(counts[i] > 0, "bug in swift-storport: a disk request ended twice")
    counts[i] -= 1
    trim()
    return ready()
  }

  /// A new epoch starts; `resume` runs once every request of this one and the older ones has
  /// left the adapter. Returns the waiters due now.
  mutating func wait(_ resume: @escaping @Sendable () -> Void) -> [@Sendable () -> Void] {
    waiters.append((epoch, resume))
    epoch += 1  // 2^64 resets: never wraps
    counts.append(0)
    trim()
    return ready()
  }

  /// Drops the empty epochs older than the oldest busy one (or than the current one).
  private mutating func trim() {
    while counts.count > 1 && counts[0] == 0 {
      counts.removeFirst()
      oldest += 1
    }
    assert(counts.count == 1 || counts[0] > 0, "bug in swift-storport: an empty epoch kept")
  }

  /// The waiters whose epochs and all older ones are empty, removed.
  private mutating func ready() -> [@Sendable () -> Void] {
    guard !waiters.isEmpty else { return [] }
    // The oldest epoch with a request in the adapter (trimmed: the first count, unless it is 0
    // and nothing is in the adapter).
    let busy: UInt64? = counts[0] > 0 ? oldest : nil
    var due: [@Sendable () -> Void] = []
    waiters.removeAll { w in
      guard busy.map({ $0 > w.epoch }) ?? true else { return false }
      due.append(w.resume)
      return true
    }
    return due
  }
}

extension AdapterDisk {
  /// Hands `r` to the adapter from the front end's thread: on a parked processor lent to this
  /// thread when ``lendsProcessors`` and one is parked (``Adapter/submitting(preferring:_:)``:
  /// the request's BuildIo and StartIo, and a completion the device gives at once, run here —
  /// no processor thread is woken; docs/serve.md, Performance), else as
  /// ``Adapter/submit(_:completion:)`` sends it. `completion` may run before this returns.
  @inline(__always)
  func handToAdapter(_ r: StorRequest, _ completion: @escaping @Sendable (StorRequest) -> Void) {
    guard lendsProcessors else { return adapter.submit(r, completion: completion) }
    adapter.submitting { adapter.submit(r, completion: completion) }
  }

  /// Submits `r` to the adapter, counted in the current epoch until it completes; `completion`
  /// runs on the completing processor (or here: ``handToAdapter(_:_:)``).
  func submit(_ r: StorRequest, _ completion: @escaping @Sendable (StorRequest) -> Void) {
    let epoch = drain.withLockedValue { $0.begin() }
    handToAdapter(r) { [self] done in
      ended(epoch) { completion(done) }
    }
  }

  /// Runs `body` (a request of `epoch` finishing: its result handed on), then counts the
  /// request out of the adapter and resumes whoever waited for its epoch to empty — so a
  /// LOGICAL UNIT RESET is answered only after every earlier request's result has been handed
  /// on. Non-escaping: a submit that finishes its request in its own completion closure pays
  /// for one closure, not two. Every `begin()` is paired with one `ended` (a count left behind
  /// would hold every later reset).
  @inline(__always)
  func ended(_ epoch: UInt64, _ body: () -> Void) {
    body()
    let due = drain.withLockedValue { $0.end(epoch) }
    for resume in due { resume() }
  }

  /// Calls `body` once every request submitted before this call has completed (at once when
  /// none is in the adapter); later requests do not delay it.
  func whenDrained(_ body: @escaping @Sendable () -> Void) {
    let due = drain.withLockedValue { $0.wait(body) }
    for resume in due { resume() }
  }
}
