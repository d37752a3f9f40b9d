/// Which port lock a miniport asks for (`STOR_SPINLOCK`, storport.h).
public enum StorSpinLockKind: UInt32, Sendable, CustomStringConvertible {
  /// `InvalidLock` (0): never valid.
  case invalidLock = 0
  /// `DpcLock` (1): the lock of one STOR_DPC; LockContext is that STOR_DPC.
  case dpcLock = 1
  /// `StartIoLock` (2): the adapter's StartIo lock; LockContext NULL.
  case startIoLock = 2
  /// `InterruptLock` (3): the adapter's interrupt lock (every MSI message lock); LockContext NULL.
  case interruptLock = 3
  /// `ThreadedDpcLock` (4): StorPortAcquireSpinLockEx only.
  case threadedDpcLock = 4
  /// `DpcLevelLock` (5): StorPortAcquireSpinLockEx only, caller already at DISPATCH_LEVEL.
  case dpcLevelLock = 5

  public var description: String {
    switch self {
    case .invalidLock: return "InvalidLock"
    case .dpcLock: return "DpcLock"
    case .startIoLock: return "StartIoLock"
    case .interruptLock: return "InterruptLock"
    case .threadedDpcLock: return "ThreadedDpcLock"
    case .dpcLevelLock: return "DpcLevelLock"
    }
  }

  /// Position in the one total order of D4: StartIo → DPC → Interrupt (MSI locks at Interrupt).
  var orderRank: Int {
    switch self {
    case .startIoLock: return 1
    case .dpcLock, .threadedDpcLock, .dpcLevelLock: return 2
    case .interruptLock: return 3
    case .invalidLock: return 0
    }
  }
}
