import Synchronization

/// A 64-bit value for the `Interlocked*` operations miniports use to share state without a
/// lock — e.g. the HwStorTimer / concurrent-StartIo hand-off that the HW_TIMER page requires.
/// Every operation is a scheduling point on the simulated platform, so races between them
/// are explored.
public final class InterlockedValue: @unchecked Sendable {
  private let value: Atomic<Int64>

  public init(_ initial: Int64 = 0) { value = Atomic(initial) }

  /// A scheduling point, then (race detection) the operation's synchronisation: a read-modify-
  /// write (a full barrier, as the Interlocked* routines are) acquires and releases; a load
  /// only acquires — two loads never order each other.
  /// The processor is borrowed (its thread is the caller): no reference count per operation.
  @inline(__always) private func point(readOnly: Bool = false) {
    guard let current = Processor.currentUnretained else { return }
    current._withUnsafeGuaranteedRef { p in
      p.point(.interlocked)
      guard let d = p.raceDetector else { return }
      if readOnly {
        d.acquire(p.index, SyncObject(self))
      } else {
        d.acquireRelease(p.index, SyncObject(self))
      }
    }
  }

  /// A plain (acquiring) read.
  public func load() -> Int64 {
    point(readOnly: true)
    return value.load(ordering: .acquiring)
  }

  /// `InterlockedCompareExchange64(Destination, Exchange, Comparand)`: returns the original.
  @discardableResult
  public func compareExchange(exchange: Int64, comparand: Int64) -> Int64 {
    point()
    return value.compareExchange(
      expected: comparand, desired: exchange, ordering: .sequentiallyConsistent
    ).original
  }

  /// `InterlockedExchange64`: returns the original.
  @discardableResult
  public func exchange(_ new: Int64) -> Int64 {
    point()
    return value.exchange(new, ordering: .sequentiallyConsistent)
  }

  /// `InterlockedIncrement64`: returns the new value.
  @discardableResult
  public func increment() -> Int64 {
    point()
    return value.wrappingAdd(1, ordering: .sequentiallyConsistent).newValue
  }

  /// `InterlockedDecrement64`: returns the new value.
  @discardableResult
  public func decrement() -> Int64 {
    point()
    return value.wrappingSubtract(1, ordering: .sequentiallyConsistent).newValue
  }

  /// `InterlockedExchangeAdd64`: returns the original.
  @discardableResult
  public func add(_ delta: Int64) -> Int64 {
    point()
    return value.wrappingAdd(delta, ordering: .sequentiallyConsistent).oldValue
  }

  /// `InterlockedOr64`: returns the original.
  @discardableResult
  public func or(_ bits: Int64) -> Int64 {
    point()
    return value.bitwiseOr(bits, ordering: .sequentiallyConsistent).oldValue
  }

  /// `InterlockedAnd64`: returns the original.
  @discardableResult
  public func and(_ bits: Int64) -> Int64 {
    point()
    return value.bitwiseAnd(bits, ordering: .sequentiallyConsistent).oldValue
  }
}
