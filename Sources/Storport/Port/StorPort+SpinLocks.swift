extension StorPort {
  /// `StorPortAcquireSpinLock(DeviceExtension, SpinLock, LockContext, LockHandle)`.
  /// `context` is the STOR_DPC for `.dpcLock` and nil for the StartIo and Interrupt locks
  /// (R-L1). Acquiring raises the virtual IRQL (DISPATCH, or DIRQL for the Interrupt lock).
  /// Checked mode reports and refuses: a lock type other than 1–3 (rule 48), a wrong
  /// LockContext (42), a lock the current callback may not take (§5.3), a lock already held
  /// (43) and an acquire against the order StartIo → DPC → Interrupt (44, D4).
  ///
  /// Inlinable so the call passes the port unretained: `ext.port.acquireSpinLock(…)` then
  /// costs no reference count on the adapter (two atomic operations per call otherwise).
  @inlinable
  public func acquireSpinLock(
    _ kind: StorSpinLockKind, context: StorDpc? = nil, _ handle: inout StorLockHandle
  ) {
    _ = StorPort.acquireSpinLock(Unmanaged.passUnretained(self), kind, context, &handle, extended: false)
  }

  /// `StorPortAcquireSpinLockEx`: as `acquireSpinLock`, also accepting `ThreadedDpcLock` and
  /// `DpcLevelLock` (rule 48), and returning `STOR_STATUS_INVALID_IRQL` when the caller's IRQL
  /// does not suit the lock (rule 49) or `STOR_STATUS_INVALID_PARAMETER` for a bad lock type or
  /// context.
  @inlinable
  public func acquireSpinLockEx(
    _ kind: StorSpinLockKind, context: StorDpc? = nil, _ handle: inout StorLockHandle
  ) -> StorStatus {
    StorPort.acquireSpinLock(Unmanaged.passUnretained(self), kind, context, &handle, extended: true)
  }

  /// `StorPortReleaseSpinLock(DeviceExtension, LockHandle)`: releases and restores the IRQL
  /// saved in the handle (rule 47). Releasing a handle that holds nothing is reported (rule 45).
  @inlinable
  public func releaseSpinLock(_ handle: inout StorLockHandle) {
    StorPort.releaseSpinLock(Unmanaged.passUnretained(self), &handle)
  }

  @usableFromInline
  static func releaseSpinLock(_ port: Unmanaged<StorPort>, _ handle: inout StorLockHandle) {
    guard let current = Processor.currentUnretained else {
      _ = port.takeUnretainedValue().serviceContext("StorPortReleaseSpinLock")
      return
    }
    // Guaranteed references: the caller holds the adapter, the processor outlives its
    // thread's calls; neither costs a reference count here.
    port._withUnsafeGuaranteedRef { adapter in
      current._withUnsafeGuaranteedRef { p in adapter.release(&handle, on: p) }
    }
  }

  @inline(__always)
  private func release(_ handle: inout StorLockHandle, on p: Processor) {
    let serial = handle.serial
    guard let ref = handle.spinLockRef, serial != 0, p.holdsSerial(serial) else {
      releaseRefusedOrUnheld(&handle, on: p)
      return
    }
    // The context holds the lock (its serial is on the held stack), so it is alive: use it
    // without a reference count.
    ref._withUnsafeGuaranteedRef { lock in
      trace(on: p, .lockRelease, lock.traceName)
      if ObjectIdentifier(lock) == locks.interruptIdentifier {
        releaseInterruptLock(on: p)
      } else if !p.releaseIfNewest(lock, serial: serial) {
        p.release(lock)
      }
    }
    p.restoreIrql(handle.oldIrql)
    handle.serial = 0
    handle.spinLockRef = nil
  }

  /// A handle whose acquire was refused (a silent no-op), or one that holds nothing (rule 45).
  @inline(never)
  private func releaseRefusedOrUnheld(_ handle: inout StorLockHandle, on p: Processor) {
    if handle.refused {
      handle = StorLockHandle()
      return
    }
    violation(
      .releaseOfUnheldLock, on: p,
      "StorPortReleaseSpinLock was given a handle for \(handle.lock) that this context does not hold")
  }

  /// Runs `body` holding a port lock (acquire, body, release).
  public func withSpinLock<R>(
    _ kind: StorSpinLockKind, context: StorDpc? = nil, _ body: () -> R
  ) -> R {
    var handle = StorLockHandle()
    acquireSpinLock(kind, context: context, &handle)
    defer { releaseSpinLock(&handle) }
    return body()
  }

  @usableFromInline
  static func acquireSpinLock(
    _ port: Unmanaged<StorPort>, _ kind: StorSpinLockKind, _ context: StorDpc?,
    _ handle: inout StorLockHandle, extended: Bool
  ) -> StorStatus {
    port._withUnsafeGuaranteedRef { adapter in
      guard let current = Processor.currentUnretained else {
        _ = adapter.serviceContext(extended ? "StorPortAcquireSpinLockEx" : "StorPortAcquireSpinLock")
        return .invalidDeviceRequest
      }
      return current._withUnsafeGuaranteedRef { p in
        // The common call: a valid lock of the kinds 1–3 with its LockContext, which the
        // current callback may take. Everything else (and every rule check) takes the long way.
        if let lockRef = adapter.plainLock(kind, context, on: p) {
          handle.lock = kind
          handle.refused = false
          lockRef._withUnsafeGuaranteedRef { adapter.takeChecked($0, kind, &handle, on: p) }
          return .success
        }
        return adapter.acquire(kind, context: context, &handle, extended: extended, on: p)
      }
    }
  }

  /// The lock of a StartIo, Interrupt or DPC lock request with the right LockContext, when the
  /// verifier has nothing to check before taking it (unchecked mode, or checked mode with the
  /// lock allowed in the current callback and none held); nil sends the call the long way.
  @inline(__always)
  private func plainLock(_ kind: StorSpinLockKind, _ context: StorDpc?, on p: Processor) -> Unmanaged<
    SpinLock
  >? {
    if checked {
      guard p.heldCount == 0, let allowed = p.currentAllowed, allowed.contains(LockMask(kind)) else {
        return nil
      }
    }
    switch kind {
    case .startIoLock: return context == nil ? Unmanaged.passUnretained(locks.startIo) : nil
    case .interruptLock: return context == nil ? Unmanaged.passUnretained(locks.interrupt) : nil
    case .dpcLock:
      guard let dpc = context, dpc.isInitialized else { return nil }
      return Unmanaged.passUnretained(dpc.lock)
    default: return nil
    }
  }

  @inline(never)
  private func acquire(
    _ kind: StorSpinLockKind, context: StorDpc?, _ handle: inout StorLockHandle, extended: Bool,
    on p: Processor
  ) -> StorStatus {
    let service: StaticString = extended ? "StorPortAcquireSpinLockEx" : "StorPortAcquireSpinLock"
    handle = StorLockHandle()
    handle.lock = kind
    func refuse(_ rule: VerifierRule, _ message: String, _ status: StorStatus) -> StorStatus {
      violation(rule, on: p, message)
      handle.refused = true
      return status
    }
    if checked && kind != .invalidLock, let allowed = p.currentAllowed,
      !allowed.contains(LockMask(kind))
    {
      return refuse(
        .lockNotAllowedInCallback,
        "\(p.currentRole!) may not acquire \(kind) (\(isHalfDuplex ? "half" : "full") duplex)",
        .invalidParameter)
    }
    // Unmanaged: the adapter (or the STOR_DPC the caller passes) keeps the lock alive for the
    // whole call, and a reference count per acquire is measurable on this path.
    let lockRef: Unmanaged<SpinLock>
    switch kind {
    case .invalidLock:
      return refuse(.invalidLockType, "\(service) with InvalidLock (0)", .invalidParameter)
    case .threadedDpcLock, .dpcLevelLock:
      if !extended {
        return refuse(
          .invalidLockType, "\(kind) may only be acquired with StorPortAcquireSpinLockEx",
          .invalidParameter)
      }
      if kind == .dpcLevelLock && p.irql != .dispatch {
        handle.refused = true
        return .invalidIrql
      }
      if kind == .threadedDpcLock && p.irql > .dispatch {
        handle.refused = true
        return .invalidIrql
      }
      fallthrough
    case .dpcLock:
      guard let dpc = context else {
        return refuse(
          .wrongLockContext, "\(kind) needs the STOR_DPC as LockContext, got NULL",
          .invalidParameter)
      }
      guard dpc.isInitialized else {
        return refuse(
          .dpcNotInitialized, "\(kind) of a STOR_DPC that StorPortInitializeDpc never initialised",
          .invalidParameter)
      }
      lockRef = Unmanaged.passUnretained(dpc.lock)
    case .startIoLock, .interruptLock:
      if context != nil {
        return refuse(
          .wrongLockContext, "\(kind) takes a NULL LockContext, got a STOR_DPC", .invalidParameter)
      }
      if extended && kind == .startIoLock && p.irql > .dispatch {
        handle.refused = true
        return .invalidIrql
      }
      lockRef = Unmanaged.passUnretained(kind == .startIoLock ? locks.startIo : locks.interrupt)
    }
    handle.refused = false
    return lockRef._withUnsafeGuaranteedRef { lock in
      take(lock, kind, &handle, on: p)
    }
  }

  @inline(__always)
  private func take(
    _ lock: SpinLock, _ kind: StorSpinLockKind, _ handle: inout StorLockHandle, on p: Processor
  ) -> StorStatus {
    if checked {
      if p.holds(lock) {
        violation(.lockAcquiredTwice, on: p, "\(kind) is already held by this context")
        handle.refused = true
        return .invalidParameter
      }
      if let above = p.firstHeld(where: { $0.lock.kind.orderRank > kind.orderRank }) {
        violation(
          .lockOrder, on: p,
          "acquiring \(kind) while holding \(above.lock.name) inverts the order StartIo → DPC → Interrupt")
        handle.refused = true
        return .invalidParameter
      }
    }
    takeChecked(lock, kind, &handle, on: p)
    return .success
  }

  /// Takes `lock` (the checks before it passed): raises the IRQL, acquires, fills the handle.
  @inline(__always)
  private func takeChecked(
    _ lock: SpinLock, _ kind: StorSpinLockKind, _ handle: inout StorLockHandle, on p: Processor
  ) {
    let old: Irql
    if kind == .interruptLock {
      old = p.raise(to: .device)
      handle.serial = acquireInterruptLock(on: p, byPort: false)
    } else {
      old = p.raise(to: .dispatch)
      handle.serial = p.acquire(lock, byPort: false)
    }
    handle.oldIrql = old
    handle.spinLockRef = Unmanaged.passUnretained(lock)
    trace(on: p, .lockAcquire, lock.traceName)
  }

  /// `StorPortAcquireMSISpinLock(HwDeviceExtension, MessageId, OldIrql)`. Meaningful only in
  /// `InterruptSynchronizePerMessage` mode; elsewhere reported (rule 52) and refused.
  public func acquireMSISpinLock(messageId: UInt32, oldIrql: inout Irql) -> StorStatus {
    guard let p = serviceContext("StorPortAcquireMSISpinLock") else { return .invalidDeviceRequest }
    let (lock, refusal) = messageLock(messageId, "StorPortAcquireMSISpinLock", on: p)
    guard let lock else { return refusal }
    if checked && p.holds(lock) {
      violation(.lockAcquiredTwice, on: p, "MSI message \(messageId) lock is already held")
      return .invalidParameter
    }
    oldIrql = p.raise(to: .device)
    _ = p.acquire(lock, byPort: false)
    trace(on: p, .lockAcquire, lock.traceName)
    return .success
  }

  /// `StorPortReleaseMSISpinLock(HwDeviceExtension, MessageId, OldIrql)`.
  public func releaseMSISpinLock(messageId: UInt32, oldIrql: Irql) -> StorStatus {
    guard let p = serviceContext("StorPortReleaseMSISpinLock") else { return .invalidDeviceRequest }
    let (lock, refusal) = messageLock(messageId, "StorPortReleaseMSISpinLock", on: p)
    guard let lock else { return refusal }
    guard p.holds(lock) else {
      if let other = p.held.last(where: { $0.lock.messageId == nil })?.lock {
        violation(
          .lockReleasedWithWrongKind, on: p,
          "StorPortReleaseMSISpinLock(\(messageId)) while holding \(other.name), not that message's lock: "
            + "\(other.name) is released with StorPortReleaseSpinLock")
      } else {
        violation(.releaseOfUnheldLock, on: p, "MSI message \(messageId) lock is not held")
      }
      return .invalidParameter
    }
    trace(on: p, .lockRelease, lock.traceName)
    p.release(lock)
    p.restoreIrql(oldIrql)
    return .success
  }

  /// `StorPortSynchronizeAccess(HwDeviceExtension, SynchronizedAccessRoutine, Context)`: runs
  /// the routine at DIRQL holding the Interrupt lock, exclusively with the ISR, and returns its
  /// result (D15). Called with the Interrupt lock already held (from an ISR) it is reported
  /// and returns false instead of deadlocking.
  public func synchronizeAccess<E>(_ routine: HwSynchronizedAccess<E>, context: UInt = 0) -> Bool {
    guard let p = serviceContext("StorPortSynchronizeAccess") else { return false }
    guard matchesExtension(E.self, routine.name, on: p) else { return false }
    if p.held.contains(where: { $0.lock.kind == .interruptLock || $0.lock.messageId != nil }) {
      violation(
        .synchronizeAccessFromIsr, on: p,
        "StorPortSynchronizeAccess called with the Interrupt lock already held (from \(p.callbackDescription))"
      )
      return false
    }
    return callAlways(.synchronizedAccess, TraceName(routine.name), on: p) {
      withExtension { routine.call($0, context) }
    }
  }

  /// The lock of MSI message `messageId`, or nil and the status to return: outside
  /// InterruptSynchronizePerMessage mode (rule 52) and for a message beyond those granted, the
  /// call is reported (checked mode) and refused.
  private func messageLock(_ messageId: UInt32, _ service: StaticString, on p: Processor) -> (
    SpinLock?, StorStatus
  ) {
    guard configuration.interruptSynchronizationMode == .synchronizePerMessage else {
      violation(.msiLockWrongMode, on: p, "\(service) in \(configuration.interruptSynchronizationMode) mode")
      return (nil, .invalidDeviceRequest)
    }
    guard Int(messageId) < locks.messages.count else {
      violation(
        .msiMessageOutOfRange, on: p,
        "\(service)(\(messageId)): the adapter was granted \(locks.messages.count) message(s)")
      return (nil, .invalidParameter)
    }
    return (locks.messages[Int(messageId)], .success)
  }
}
