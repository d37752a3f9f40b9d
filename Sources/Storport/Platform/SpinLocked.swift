import CStorportShim

/// A value guarded by a spin lock from the C shim: for critical sections of a few
/// instructions that never block or call out (a processor's work queues, a STOR_DPC's state
/// machine). A hold costs one atomic exchange (the release is a plain store) where ``Locked``
/// costs two; a waiter spins, yielding the core now and then, instead of sleeping — so never
/// hold it across anything that can wait.
///
/// Its atomics are compiled in the C shim, like ``Locked``'s, so ThreadSanitizer sees every
/// happens-before edge it makes. The word sits in its own cache line.
final class SpinLocked<Value>: @unchecked Sendable {
  private let word = AlignedWords(count: 1)
  /// Guarded by `word`: exclusive by construction, not by Swift's dynamic checks.
  @exclusivity(unchecked) private var value: Value

  init(_ value: Value) { self.value = value }

  /// Runs `body` (which must not block) with exclusive access to the value.
  @inline(__always)
  func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
    storport_spin_lock(word[0])
    defer { storport_unlock(word[0]) }
    return try body(&value)
  }
}
