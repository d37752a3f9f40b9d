extension StorPort {
  /// `StorPortInitializeTimer(HwDeviceExtension, TimerHandle)`. Statuses: INVALID_IRQL above
  /// DISPATCH (rule 15), INVALID_PARAMETER for a NULL handle pointer (16), UNSUCCESSFUL past
  /// the configured limit (17, D10), SUCCESS with a handle otherwise.
  public func initializeTimer(_ timerHandle: UnsafeMutablePointer<StorTimerHandle?>?) -> StorStatus {
    guard let p = serviceContext("StorPortInitializeTimer") else { return .invalidDeviceRequest }
    if p.irql > .dispatch {
      violation(
        .wrongIrqlForRoutine, on: p, "StorPortInitializeTimer at \(p.irql); it needs ≤ DISPATCH_LEVEL")
      return .invalidIrql
    }
    guard let timerHandle else { return .invalidParameter }
    let limit = runtime.extendedTimerLimit
    let handle = extendedTimers.slots.withLock { slots -> StorTimerHandle? in
      if let limit, slots.filter(\.allocated).count >= limit { return nil }
      let i =
        slots.firstIndex { !$0.allocated }
        ?? {
          slots.append(ExtendedTimerSlot())
          return slots.count - 1
        }()
      slots[i].allocated = true
      slots[i].pending = false
      slots[i].handleGeneration &+= 1
      return StorTimerHandle(slot: i, generation: slots[i].handleGeneration, adapter: index)
    }
    guard let handle else { return .unsuccessful }
    timerHandle.pointee = handle
    trace(on: p, .extTimerInitialize, "timer\(handle.slot)")
    return .success
  }

  /// Convenience form of `initializeTimer` for a non-NULL handle.
  public func initializeTimer(_ timerHandle: inout StorTimerHandle?) -> StorStatus {
    withUnsafeMutablePointer(to: &timerHandle) { initializeTimer($0) }
  }

  /// `StorPortRequestTimer(HwDeviceExtension, TimerHandle, TimerCallback, CallbackContext,
  /// TimerValue, TolerableDelay)`. Value in µs; 0 cancels (rule 20). BUSY while a request is
  /// pending, leaving it unchanged (rule 19, D6). NULL callback or an invalid or freed handle:
  /// INVALID_PARAMETER (21). A tolerable delay under 32 µs counts as 0 (22). Callable at any
  /// IRQL; above DISPATCH the arming happens when the IRQL drops (23, D8). The callback runs
  /// with the StartIo lock held, as HwStorTimer does (24, D7).
  public func requestTimer<E>(
    _ handle: StorTimerHandle?, _ callback: HwTimerEx<E>?, context: UInt = 0,
    microseconds: UInt64, tolerableDelay: UInt64 = 0
  ) -> StorStatus {
    guard let p = serviceContext("StorPortRequestTimer") else { return .invalidDeviceRequest }
    guard let handle, let callback else { return .invalidParameter }
    guard matchesExtension(E.self, callback.name, on: p) else { return .invalidParameter }
    guard ownsTimer(handle, "StorPortRequestTimer", on: p) else { return .invalidParameter }
    let s = state
    if s == .stopped || s == .removed || s == .failed {
      violation(.useAfterStop, on: p, "StorPortRequestTimer on an adapter that is \(s)")
      return .invalidDeviceState
    }
    let slack = tolerableDelay < 32 ? 0 : tolerableDelay
    let deferNow = p.irql > .dispatch
    let outcome = extendedTimers.slots.withLock { slots -> RequestTimerOutcome in
      guard handle.slot < slots.count, slots[handle.slot].allocated,
        slots[handle.slot].handleGeneration == handle.generation
      else { return .invalid }
      if microseconds == 0 {
        slots[handle.slot].pending = false
        slots[handle.slot].armGeneration &+= 1
        return .cancelled
      }
      if slots[handle.slot].pending { return .busy }
      slots[handle.slot].pending = true
      slots[handle.slot].armGeneration &+= 1
      slots[handle.slot].callback = callback.erased
      slots[handle.slot].context = context
      slots[handle.slot].microseconds = microseconds
      slots[handle.slot].tolerableDelay = slack
      slots[handle.slot].processor = p.index
      let g = slots[handle.slot].armGeneration
      return deferNow ? .deferred(g) : .armNow(g)
    }
    switch outcome {
    case .invalid: return .invalidParameter
    case .busy: return .busy
    case .cancelled:
      trace(on: p, .timerCancel, callback.name, a: UInt64(handle.slot))
      return .success
    case .armNow(let g):
      applyExtendedTimerArm(slot: handle.slot, generation: g, on: p)
      return .success
    case .deferred(let g):
      p.deferred.append(.extendedTimer(self, slot: handle.slot, generation: g))
      trace(on: p, .timerDeferred, callback.name, a: microseconds, b: slack)
      return .success
    }
  }

  func applyExtendedTimerArm(slot: Int, generation: UInt64, on p: Processor) {
    let now = platform.now().nanoseconds
    let armed = extendedTimers.slots.withLock { slots -> (String, UInt64, UInt64)? in
      guard slot < slots.count, slots[slot].pending, slots[slot].armGeneration == generation
      else { return nil }
      let due = runtime.timerResolution.roundUp(now &+ slots[slot].microseconds &* 1000)
      let d = Self.coalesced(due, toleranceMicroseconds: slots[slot].tolerableDelay)
      slots[slot].deadline = d
      return (slots[slot].callback?.name ?? "", d, slots[slot].tolerableDelay)
    }
    guard let (name, deadline, slack) = armed else { return }
    trace(on: p, .extTimerRequest, name, a: deadline, b: slack)
    platform.arm(
      deadline: PlatformTime(nanoseconds: deadline), target: extendedTimers.target,
      cookie: ExtendedTimerTarget.cookie(slot: slot, generation: generation),
      processor: ProcessorIndex(rawValue: p.index))
  }

  func runExtendedTimer(on p: Processor, slot: Int, generation: UInt64) {
    guard lifecycle.initialized.load(ordering: .acquiring) else { return }
    var taken: (callback: ErasedTimerEx, context: UInt)? = nil
    call(
      .timerEx, taken?.callback.traceName ?? .hwTimerEx, on: p,
      admit: {
        let expiry = extendedTimers.slots.withLock { slots -> (ErasedTimerEx, UInt, UInt64)? in
          guard slot < slots.count, slots[slot].pending,
            slots[slot].armGeneration & 0xFF_FFFF_FFFF == generation, let cb = slots[slot].callback
          else { return nil }
          slots[slot].pending = false
          return (cb, slots[slot].context, slots[slot].deadline)
        }
        guard let (callback, context, deadline) = expiry else { return false }
        trace(on: p, .extTimerFire, callback.name, a: platform.now().nanoseconds &- deadline)
        taken = (callback, context)
        return true
      }
    ) { withExtension { taken!.callback.call($0, taken!.context) } }
  }

  /// `StorPortFreeTimer(HwDeviceExtension, TimerHandle)`: INVALID_IRQL above DISPATCH,
  /// INVALID_PARAMETER for NULL, UNSUCCESSFUL when already freed (rule 25); freeing cancels a
  /// pending expiry (rule 26).
  public func freeTimer(_ handle: StorTimerHandle?) -> StorStatus {
    guard let p = serviceContext("StorPortFreeTimer") else { return .invalidDeviceRequest }
    if p.irql > .dispatch {
      violation(.wrongIrqlForRoutine, on: p, "StorPortFreeTimer at \(p.irql); it needs ≤ DISPATCH_LEVEL")
      return .invalidIrql
    }
    guard let handle else { return .invalidParameter }
    guard ownsTimer(handle, "StorPortFreeTimer", on: p) else { return .invalidParameter }
    let freed = extendedTimers.slots.withLock { slots -> Bool in
      guard handle.slot < slots.count, slots[handle.slot].allocated,
        slots[handle.slot].handleGeneration == handle.generation
      else { return false }
      slots[handle.slot].allocated = false
      slots[handle.slot].pending = false
      slots[handle.slot].armGeneration &+= 1
      slots[handle.slot].callback = nil
      return true
    }
    guard freed else { return .unsuccessful }
    trace(on: p, .extTimerFree, "timer\(handle.slot)")
    return .success
  }

  /// `StorPortQueryTimerMinInterval(HwDeviceExtension, TimerMinInterval)`: the timer
  /// resolution in force, in 100 ns units (at least 1) (rule 27, D11).
  public func queryTimerMinInterval(_ interval: UnsafeMutablePointer<UInt32>?) -> StorStatus {
    guard let interval else { return .invalidParameter }
    let ns: UInt64
    switch runtime.timerResolution {
    case .host: ns = platform.timerResolutionNanoseconds
    case .tick(let t): ns = t
    }
    interval.pointee = UInt32(clamping: max(1, ns / 100))
    return .success
  }

  /// Cancels every extended timer (stop) and frees the unfreed ones with a warning (remove).
  func quiesceExtendedTimers(free: Bool, on p: Processor?) {
    let unfreed = extendedTimers.slots.withLock { slots -> Int in
      var n = 0
      for i in slots.indices {
        slots[i].pending = false
        slots[i].armGeneration &+= 1
        if free && slots[i].allocated {
          slots[i].allocated = false
          slots[i].handleGeneration &+= 1
          n += 1
        }
      }
      return n
    }
    if unfreed > 0 {
      violation(
        .extendedTimerNotFreed, on: p,
        "\(unfreed) extended timer(s) were never freed with StorPortFreeTimer; the port freed them at remove")
    }
  }

  private func ownsTimer(_ handle: StorTimerHandle, _ service: StaticString, on p: Processor) -> Bool {
    owns(handle.adapter, "a timer handle", service, on: p)
  }

  /// An object (timer handle, work item) made by another adapter is refused and reported.
  func owns(_ maker: Int, _ what: StaticString, _ service: StaticString, on p: Processor) -> Bool {
    guard maker != index else { return true }
    violation(
      .objectOfAnotherAdapter, on: p, "\(service) through adapter \(index) with \(what) of adapter \(maker)")
    return false
  }

  /// Timer coalescing (rule 22, as Windows coalesces timers with a tolerable delay): a due time
  /// with a tolerance of T µs moves up to the next multiple of the largest power of two of
  /// nanoseconds not above T µs — never early, never later than T, and timers due close
  /// together with similar tolerances expire at the same instant (one wake-up).
  static func coalesced(_ due: UInt64, toleranceMicroseconds tolerance: UInt64) -> UInt64 {
    guard tolerance > 0 else { return due }
    let toleranceNs = tolerance &* 1000
    let grid: UInt64 = 1 << UInt64(63 - toleranceNs.leadingZeroBitCount)
    let aligned = (due &+ grid &- 1) & ~(grid &- 1)
    assert(
      aligned >= due && aligned &- due < grid && grid <= toleranceNs, "bug in swift-storport: coalescing")
    return aligned
  }
}
