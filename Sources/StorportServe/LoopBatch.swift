import NIOCore
import Storport

/// Work finished on the adapter's processors, handed to a connection's event loop in batches:
/// the first item of a batch schedules one loop task, later ones join it, and the task takes
/// them all — so a burst of completions costs one wake-up of the loop and one flush (one
/// `writev`) instead of one of each per completion.
final class LoopBatch<Item>: @unchecked Sendable {
  private let state = Locked<(items: [Item], scheduled: Bool)>(([], false))
  private let loop: EventLoop
  private let drain: ([Item]) -> Void

  /// `drain` runs on `loop` with the items in the order they were added. The loop must outlive
  /// the work that adds to it: servers end their event loops only after the adapters drained.
  init(loop: EventLoop, drain: @escaping ([Item]) -> Void) {
    self.loop = loop
    self.drain = drain
  }

  /// Adds `item` from any thread. The loop task is scheduled under the lock: once `add`
  /// returns, whatever the caller then schedules on the loop runs after this item is drained —
  /// another thread that found the batch scheduled cannot get ahead of its scheduling (a LOGICAL
  /// UNIT RESET's answer after the results that finished before it).
  func add(_ item: Item) {
    state.withLock { s in
      s.items.append(item)
      guard !s.scheduled else { return }
      s.scheduled = true
      loop.execute {
        let items = self.state.withLock { s -> [Item] in
          s.scheduled = false
          var taken: [Item] = []
          swap(&taken, &s.items)
          return taken
        }
        self.drain(items)
      }
    }
  }
}
