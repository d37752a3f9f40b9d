/// `STOR_LOCK_HANDLE` — filled by `acquireSpinLock`, the only thing `releaseSpinLock` takes
/// (R-L2). Holds the lock and the IRQL to restore (`Context.OldIrql`, rule 47).
public struct StorLockHandle: Sendable {
  public internal(set) var lock: StorSpinLockKind = .invalidLock
  /// `Context.OldIrql`: the IRQL release restores.
  public internal(set) var oldIrql: Irql = .passive
  /// The acquire was refused by the verifier; release is then a silent no-op. (Beside the two
  /// one-byte fields: the handle stays 24 bytes, the size of a STOR_LOCK_HANDLE's Context.)
  @usableFromInline var refused = false
  /// The lock taken (unmanaged: see CallbackFrame on `unowned(unsafe)` optionals in structs).
  @usableFromInline nonisolated(unsafe) var spinLockRef: Unmanaged<SpinLock>?
  var spinLock: SpinLock? {
    get { spinLockRef?.takeUnretainedValue() }
    set { spinLockRef = newValue.map { Unmanaged.passUnretained($0) } }
  }
  @usableFromInline var serial: UInt64 = 0

  @inlinable public init() {}
}
