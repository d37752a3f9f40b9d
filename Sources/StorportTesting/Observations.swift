import Storport
import Synchronization

/// A thread-safe append-only log for observations made inside callbacks.
public final class Observations<T: Sendable>: Sendable {
  private let items = Locked<[T]>([])
  public init() {}
  public func append(_ t: T) { items.withLock { $0.append(t) } }
  public var all: [T] { items.withLock { $0 } }
  public var count: Int { items.withLock { $0.count } }
}
