import CStorportShim

/// A value guarded by a small futex mutex from the C shim (brief spin, then sleep).
///
/// The runtime uses it instead of `Synchronization.Mutex` for one reason: Mutex's futex path
/// lives in the prebuilt toolchain library, which ThreadSanitizer cannot see, so every access
/// it protects would be reported as a race. This lock's atomics are compiled in our C target,
/// so `swift test --sanitize=thread` checks the runtime for real. The word sits in its own
/// cache line.
public final class Locked<Value>: @unchecked Sendable {
  private let word = AlignedWords(count: 1)
  /// Guarded by `word`: exclusive by construction, not by Swift's dynamic checks.
  @exclusivity(unchecked) private var value: Value

  public init(_ value: Value) { self.value = value }

  /// Runs `body` with exclusive access to the value.
  @inline(__always)
  public func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
    storport_mutex_lock(word[0])
    defer { storport_mutex_unlock(word[0]) }
    return try body(&value)
  }

  /// Runs `body` with exclusive access to the value, taking the lock only when `serial` is
  /// false. Pass `Platform.runsOneThreadAtATime` — and only for values that no thread outside
  /// the platform's (a progress reporter, say) ever reads.
  @inline(__always)
  func withLock<R>(unlessSerial serial: Bool, _ body: (inout Value) throws -> R) rethrows -> R {
    if serial { return try body(&value) }
    return try withLock(body)
  }

  /// Runs `body` if the lock is free right now; nil otherwise.
  @inline(__always)
  public func withLockIfAvailable<R>(_ body: (inout Value) throws -> R) rethrows -> R? {
    guard storport_mutex_trylock(word[0]) else { return nil }
    defer { storport_mutex_unlock(word[0]) }
    return try body(&value)
  }
}
