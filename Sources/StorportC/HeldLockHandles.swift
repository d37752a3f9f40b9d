import Storport

/// The port's `StorLockHandle` of each C STOR_LOCK_HANDLE a processor holds, keyed by the C
/// handle's address: a handle is released by the context that acquired it, so each processor
/// has its own small table (16 locks held at once; a deeper nest is reported by the port long
/// before). Only the owning processor's thread touches its table: no lock.
final class HeldLockHandles: @unchecked Sendable {
  private static let perProcessor = 16
  private static let processors = 64
  private let keys: UnsafeMutablePointer<UInt>
  private let handles: UnsafeMutablePointer<StorLockHandle>

  init() {
    let n = Self.perProcessor * Self.processors
    keys = .allocate(capacity: n)
    keys.initialize(repeating: 0, count: n)
    handles = .allocate(capacity: n)
    handles.initialize(repeating: StorLockHandle(), count: n)
  }

  deinit {
    keys.deallocate()
    handles.deallocate()
  }

  private var base: Int { (StorPort.currentProcessor ?? 0) % Self.processors * Self.perProcessor }

  /// Records `handle` for the C handle at `address` (replacing a stale entry for it).
  func put(_ address: UInt, _ handle: StorLockHandle) {
    let b = base
    var free = -1
    for i in b..<b + Self.perProcessor {
      if keys[i] == address {
        free = i
        break
      }
      if free < 0 && keys[i] == 0 { free = i }
    }
    guard free >= 0 else { return }  // 16 locks held at once: the port's own checks report it
    keys[free] = address
    handles[free] = handle
  }

  /// The handle recorded for `address` on this processor, removed; nil if none.
  func take(_ address: UInt) -> StorLockHandle? {
    let b = base
    for i in b..<b + Self.perProcessor where keys[i] == address {
      keys[i] = 0
      return handles[i]
    }
    return nil
  }
}
