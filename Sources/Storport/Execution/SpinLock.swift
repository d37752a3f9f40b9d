import CStorportShim
import Synchronization

/// One port spin lock: the StartIo lock, the Interrupt lock, a STOR_DPC's lock, or one MSI
/// message lock. A test-and-test-and-set word in its own cache line: real mutual exclusion on
/// the live platform; on the simulated platform a contended acquire blocks the processor in
/// the scheduler until the holder releases.
@usableFromInline final class SpinLock: @unchecked Sendable {
  let word = AlignedWords(count: 1)
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

  @inline(__always) var pointer: UnsafeMutablePointer<UInt32> { word[0] }
  @inline(__always) func tryAcquire() -> Bool { storport_try_lock(pointer) }
  @inline(__always) func unlock() { storport_unlock(pointer) }
  var isHeld: Bool { storport_load_relaxed(pointer) != 0 }
}
