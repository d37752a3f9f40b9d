/// A set of the three classic port locks.
struct LockMask: OptionSet, Sendable {
  let rawValue: UInt8
  static let startIo = LockMask(rawValue: 1)
  static let dpc = LockMask(rawValue: 2)
  static let interrupt = LockMask(rawValue: 4)
  static let all: LockMask = [.startIo, .dpc, .interrupt]

  init(rawValue: UInt8) { self.rawValue = rawValue }

  init(_ kind: StorSpinLockKind) {
    switch kind {
    case .startIoLock: self = .startIo
    case .dpcLock, .threadedDpcLock, .dpcLevelLock: self = .dpc
    case .interruptLock: self = .interrupt
    case .invalidLock: self = []
    }
  }
}

/// One callback on a processor's call stack (callbacks nest when an interrupt preempts).
struct CallbackFrame {
  var role: CallbackRole
  var routine: TraceName
  /// The adapter whose callback this is. Stored unmanaged: an `unowned(unsafe)` optional in a
  /// struct breaks `Optional<CallbackFrame>` in Swift 6.3.1 (the array's `last` of an empty
  /// array comes back non-nil — a miscompiled extra inhabitant).
  private var adapterRef: Unmanaged<StorPort>?
  var adapter: StorPort? {
    get { adapterRef?.takeUnretainedValue() }
    set { adapterRef = newValue.map { Unmanaged.passUnretained($0) } }
  }
  /// The adapter's identity, for comparisons (no reference count).
  var adapterIdentity: UnsafeMutableRawPointer? { adapterRef?.toOpaque() }
  var entryIrql: Irql
  var heldAtEntry: Int
  /// Locks the miniport may acquire itself in this callback (spec §5.3).
  var allowed: LockMask
  /// Platform time at entry (checked mode; 0 otherwise), for the watchdog.
  var entryTime: UInt64 = 0
  /// The watchdog reported this callback already.
  var overran = false

  init(
    role: CallbackRole, routine: TraceName, adapter: StorPort, entryIrql: Irql, heldAtEntry: Int,
    allowed: LockMask, entryTime: UInt64
  ) {
    self.role = role
    self.routine = routine
    adapterRef = Unmanaged.passUnretained(adapter)
    self.entryIrql = entryIrql
    self.heldAtEntry = heldAtEntry
    self.allowed = allowed
    self.entryTime = entryTime
  }
}
