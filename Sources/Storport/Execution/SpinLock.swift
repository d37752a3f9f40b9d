import CStorportShim
import Synchronization

/// One port spin lock: the StartIo lock, the Interrupt lock, a STOR_DPC's lock, or one MSI
/// message lock. A test-and-test-and-set word in its own cache line: real mutual exclusion on
/// the live platform; on the simulated platform a contended acquire blocks the processor in
/// the scheduler until the holder releases.
@usableFromInline final class SpinLock: @unchecked Sendable {
  /// Keeps `word` out of the cache line of the object header (written by reference counting)
  /// and of heap neighbours: 112 bytes before it (128 with the header), 128 after.
  private let paddingBefore = InlineArray<14, UInt64>(repeating: 0)
  /// 0 free, 1 held. A Swift atomic, so every acquire and release is inline (no call into the
  /// C shim) and ThreadSanitizer, which instruments Swift atomics, sees each happens-before edge.
  private let word = Atomic<UInt32>(0)
  private let paddingAfter = InlineArray<16, UInt64>(repeating: 0)
  let kind: StorSpinLockKind
  /// For MSI message locks: the message number.
  let messageId: UInt32?
  let name: String
  let traceName: TraceName
  /// Acquisitions that found the lock held (or, for a channel token, no token free).
  let contentions = Atomic<UInt64>(0)

  init(kind: StorSpinLockKind, name: String, messageId: UInt32? = nil) {
    self.kind = kind
    self.name = name
    traceName = TraceName(name)
    self.messageId = messageId
  }

  /// Test-and-test-and-set: true if the word went 0 → 1 (acquire ordering).
  @inline(__always) func tryAcquire() -> Bool {
    word.load(ordering: .relaxed) == 0 && word.exchange(1, ordering: .acquiring) == 0
  }
  /// One plain store with release ordering (no locked instruction).
  @inline(__always) func unlock() { word.store(0, ordering: .releasing) }
  var isHeld: Bool { word.load(ordering: .relaxed) != 0 }
}
