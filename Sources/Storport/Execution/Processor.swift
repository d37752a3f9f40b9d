import CStorportShim
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// One simulated processor: its work queues (interrupts, DPCs, I/O, passive work — served in
/// that priority order) and its execution context (virtual IRQL, locks held, callback stack).
///
/// The execution context is touched only by the thread running the processor: its own, or a
/// host thread it is lent to (``runLent(_:limit:)``) — one at a time, the platform's parking
/// word handing it over. The queues are shared: any thread may post work, then `wake` the
/// processor through the platform.
///
/// Preemption: at every scheduling point the processor delivers pending interrupts if its IRQL
/// is below DIRQL, and runs queued DPCs if its IRQL is below DISPATCH_LEVEL — as a real
/// processor would, nested on top of whatever it was doing.
final class Processor: @unchecked Sendable {
  let index: Int
  /// The runtime owns this object and outlives it (it is shut down, not released, first).
  unowned(unsafe) let runtime: StorportRuntime
  let platform: Platform
  /// Scheduling points and lock signals matter only to the simulated platform.
  let simulated: Bool
  /// Checked mode: the watchdog runs (fixed at creation).
  let checked: Bool
  /// The watchdog's limits (ns).
  let watchdog: WatchdogLimits
  /// Whether the runtime records a trace (fixed at creation).
  let tracing: Bool
  /// Trace events are stamped per work item (a ring trace), not per event.
  let stampsPerWorkItem: Bool
  /// The happens-before race detector, when the runtime runs one (simulated platform only).
  let raceDetector: RaceDetector?
  /// Every StorPort service call is a scheduling point (the platform's strategy asks for it).
  let servicePoints: Bool

  // MARK: queues (shared)
  /// Guarded by a spin lock held for one ring operation; the pending counts below change only
  /// under it (a plain load and store: one writer at a time), and are read outside it.
  private let queues = SpinLocked(WorkQueues())
  private let pendingInterrupts = Atomic<Int>(0)
  private let pendingDpcLevel = Atomic<Int>(0)
  private let pendingAll = Atomic<Int>(0)

  // MARK: execution context (the running thread only)

  /// The context lives behind a pointer: only the thread running this processor touches it, so the
  /// dynamic exclusivity checks Swift applies to class properties would be pure cost on the
  /// lock and DPC paths. `_modify` accessors mutate the arrays in place.
  struct Context {
    var irql: Irql = .passive
    var held = HeldLocks()
    var frames = ContextStack<CallbackFrame>()
    var deferred: [DeferredAction] = []
    var lockSerial: UInt64 = 0
    var delivering = false
    /// Nesting depth of the submitter's code (a completion routine) running on this processor.
    var hostCodeDepth = 0
    /// Since when (platform ns) this processor has run interrupt- and DPC-level work back to
    /// back without its DPC queue draining; 0 when it last drained.
    var dispatchSince: UInt64 = 0
    /// Scheduling points so far (the watchdog looks every 256th).
    var points: UInt32 = 0
    /// When the current work item began (platform ns; kept only for a ring trace): the time
    /// of its trace events (``TraceMode/stampsPerWorkItem``).
    var workItemTime: UInt64 = 0
  }
  private let context: UnsafeMutablePointer<Context> = {
    let c = UnsafeMutablePointer<Context>.allocate(capacity: 1)
    c.initialize(to: Context())
    return c
  }()

  var irql: Irql {
    @inline(__always) get { context.pointee.irql }
    @inline(__always) set { context.pointee.irql = newValue }
  }
  /// The locks held (a view of the context's stack: read it, do not keep it).
  var held: HeldLocks { @inline(__always) get { context.pointee.held } }
  /// How many locks this context holds.
  var heldCount: Int { @inline(__always) get { context.pointee.held.count } }
  /// The callback frames (a view of the context's stack: read it, do not keep it).
  var frames: ContextStack<CallbackFrame> {
    @inline(__always) get { context.pointee.frames }
    @inline(__always) _modify { yield &context.pointee.frames }
  }
  var deferred: [DeferredAction] {
    @inline(__always) get { context.pointee.deferred }
    @inline(__always) _modify { yield &context.pointee.deferred }
  }
  var lockSerial: UInt64 {
    @inline(__always) get { context.pointee.lockSerial }
    @inline(__always) set { context.pointee.lockSerial = newValue }
  }
  /// Depth of the submitter's code running on this processor (see ``runHostCode(_:)``).
  var hostCodeDepth: Int { context.pointee.hostCodeDepth }

  /// Runs the submitter's code (a request's completion routine) on this processor: what it
  /// does to requests is the submitter's business, not the interrupted miniport callback's.
  @inline(__always)
  func runHostCode(_ body: () -> Void) {
    context.pointee.hostCodeDepth += 1
    body()
    context.pointee.hostCodeDepth -= 1
  }

  /// Callbacks started on this processor, by role, then (acquisitions, contended acquisitions)
  /// of port spin locks: written only by this processor (a relaxed load and store, no locked
  /// instruction, inline), readable from any thread (relaxed atomics).
  private let counters: UnsafeMutablePointer<Atomic<UInt64>> = {
    let n = CallbackRole.allCases.count + 2
    let c = UnsafeMutablePointer<Atomic<UInt64>>.allocate(capacity: n)
    for i in 0..<n { (c + i).initialize(to: Atomic(0)) }
    return c
  }()
  private var lockCounter: Int { CallbackRole.allCases.count }

  /// Adds one to counter `i` (this processor's thread only: single writer).
  @inline(__always)
  private func bump(_ i: Int) {
    counters[i].store(counters[i].load(ordering: .relaxed) &+ 1, ordering: .relaxed)
  }

  /// (acquisitions, contended acquisitions) of port spin locks on this processor.
  var lockCounts: (acquired: UInt64, contended: UInt64) {
    (counters[lockCounter].load(ordering: .relaxed), counters[lockCounter + 1].load(ordering: .relaxed))
  }

  var callbackCounts: [UInt64] {
    (0..<CallbackRole.allCases.count).map { counters[$0].load(ordering: .relaxed) }
  }
  private var delivering: Bool {
    @inline(__always) get { context.pointee.delivering }
    @inline(__always) set { context.pointee.delivering = newValue }
  }

  /// This processor's number, typed (for traces and reports).
  let processorIndex: ProcessorIndex

  /// The time of a trace event recorded on this processor (its own thread) now: the clock, or
  /// the current work item's start (``TraceMode/stampsPerWorkItem``; the clock before the first).
  var traceTime: UInt64 {
    @inline(__always) get {
      let item = stampsPerWorkItem ? context.pointee.workItemTime : 0
      return item != 0 ? item : platform.now().nanoseconds
    }
  }

  init(index: Int, runtime: StorportRuntime, platform: Platform) {
    self.index = index
    processorIndex = ProcessorIndex(rawValue: index)
    self.runtime = runtime
    self.platform = platform
    simulated = platform.isSimulated
    tracing = runtime.tracer.isOn
    stampsPerWorkItem = runtime.tracer.isOn && runtime.tracer.mode.stampsPerWorkItem
    checked = runtime.verifier.mode.isChecked
    watchdog = runtime.watchdog
    raceDetector = runtime.raceDetector
    servicePoints = platform.schedulesServiceCalls
  }

  deinit {
    context.pointee.held.deallocate()
    context.pointee.frames.deallocate()
    context.deinitialize(count: 1)
    context.deallocate()
    counters.deinitialize(count: CallbackRole.allCases.count + 2)
    counters.deallocate()
  }

  // MARK: - Posting work (any thread)

  func post(_ work: Work) {
    // The host (a harness, between runs) hands work to this processor: what it did before is
    // ordered before the work (race detection).
    if let d = raceDetector, Processor.currentUnretained == nil { d.release(d.controller, SyncObject(self)) }
    let q = work.queue
    queues.withLock {
      $0.append(work, to: q)
      countPending(1, queue: q)
    }
    // A processor posting to itself is running: no wake-up needed.
    if simulated || !isCurrent { platform.wake(index) }
  }

  var hasWork: Bool { pendingAll.load(ordering: .acquiring) > 0 }

  /// Counts `delta` items in or out of queue `queue` (``Work/queue``); only under the queues'
  /// lock, so a load and a store suffice (the release store publishes the queued work to a
  /// reader that sees the count).
  @inline(__always)
  private func countPending(_ delta: Int, queue: Int) {
    func bump(_ count: borrowing Atomic<Int>) {
      let now = count.load(ordering: .relaxed) &+ delta
      assert(now >= 0, "bug in swift-storport: a processor's pending work count went negative")
      count.store(now, ordering: .releasing)
    }
    if queue == 0 { bump(pendingInterrupts) }
    if queue == 1 { bump(pendingDpcLevel) }
    bump(pendingAll)
  }

  private func take(maxQueue: Int) -> Work? {
    guard pendingAll.load(ordering: .acquiring) > 0 else { return nil }
    return queues.withLock { qs -> Work? in
      guard let work = qs.popFirst(upTo: maxQueue) else { return nil }
      countPending(-1, queue: work.queue)
      return work
    }
  }

  /// Removes queued work matching `predicate` (used when an adapter stops). `predicate` runs
  /// under the queues' spin lock: it must only look at the work.
  func removeQueued(where predicate: (Work) -> Bool) {
    queues.withLock { qs in
      for q in 0..<4 { countPending(-qs.removeAll(from: q, where: predicate), queue: q) }
    }
  }

  // MARK: - The processor loop

  func run() {
    storport_set_current(Unmanaged.passUnretained(self).toOpaque())
    defer { storport_set_current(nil) }
    while !platform.isStopping {
      if !runOneWorkItem() {
        context.pointee.dispatchSince = 0
        // Asked after every pause while the processor spins: a closure over this processor (no
        // reference count — one per look was an atomic operation on a line other threads share).
        platform.idle(index) { hasWork }
      }
    }
  }

  /// One turn of the processor loop: timers polled, then the first queued work item run;
  /// false when there was none.
  @inline(__always)
  private func runOneWorkItem() -> Bool {
    // Before every work item (so a busy processor never waits for the timer thread to be
    // scheduled — Platform.pollTimers); a clock read only while a timer is armed.
    platform.pollTimers()
    guard let work = take(maxQueue: 3) else { return false }
    if checked { noteDispatchWork(work) }
    execute(work)
    // Between work items (timers polled, a device's completion raising an interrupt from
    // this thread) trace events read the clock: a stale stamp would sort them too early.
    context.pointee.workItemTime = 0
    return true
  }

  /// Runs `body` (host code: it submits requests), then this processor's queued work — at
  /// most `limit` items — on the calling host thread as this processor, which the platform
  /// lent it (``Platform/lend(_:)``): the processor's own thread stays parked meanwhile, so
  /// the two never run it at once. What `body` submits is posted here without a wake-up and
  /// runs here, as a request a thread on a Windows processor submits starts on that
  /// processor. Returns whether work is left (the limit reached, or the platform stopping):
  /// the caller wakes the processor's thread for it once the loan ends.
  func runLent(_ body: () -> Void, limit: Int) -> Bool {
    precondition(
      storport_get_current() == nil, "bug in swift-storport: a processor lent to a processor's thread")
    assert(irql == .passive && heldCount == 0, "bug in swift-storport: a processor lent while not idle")
    storport_set_current(Unmanaged.passUnretained(self).toOpaque())
    defer { storport_set_current(nil) }
    runHostCode(body)
    var ran = 0
    while ran < limit && !platform.isStopping && runOneWorkItem() { ran += 1 }
    context.pointee.dispatchSince = 0
    assert(
      irql == .passive && heldCount == 0,
      "bug in swift-storport: a lent processor's work left it at \(irql) with \(heldCount) locks")
    return hasWork
  }

  private func execute(_ work: consuming Work) {
    raceDetector?.acquire(index, SyncObject(self))
    if stampsPerWorkItem { context.pointee.workItemTime = platform.now().nanoseconds }
    switch consume work {
    case .interrupt(let adapter, let message):
      platform.schedulingPoint(index, .interruptDelivery)
      adapter._withUnsafeGuaranteedRef { $0.deliverInterrupt(on: self, message: message) }
    case .dpc(let dpc, let generation):
      platform.schedulingPoint(index, .dpcDequeue)
      dpc._withUnsafeGuaranteedRef { dpc in
        dpc.adapterRef?._withUnsafeGuaranteedRef { $0.runDpc(dpc, on: self, generation: generation) }
      }
    case .adapterTimer(let adapter, let generation):
      platform.schedulingPoint(index, .timerExpiry)
      adapter._withUnsafeGuaranteedRef { $0.runAdapterTimer(on: self, generation: generation) }
    case .extendedTimer(let adapter, let slot, let generation):
      platform.schedulingPoint(index, .timerExpiry)
      adapter._withUnsafeGuaranteedRef { $0.runExtendedTimer(on: self, slot: slot, generation: generation) }
    case .port(let body):
      platform.schedulingPoint(index, .work)
      let old = raise(to: .dispatch)
      body()
      lower(to: old)
    case .submit(let adapter, let request):
      platform.schedulingPoint(index, .work)
      let old = raise(to: .dispatch)
      adapter._withUnsafeGuaranteedRef { $0.dispatchNew(request, on: self) }
      lower(to: old)
    case .passive(let body):
      platform.schedulingPoint(index, .work)
      body()
    }
  }

  // MARK: - Scheduling points and preemption

  /// A scheduling point: the simulation may switch processors here, and pending interrupts
  /// (IRQL < DIRQL) and DPCs (IRQL < DISPATCH) preempt the current code.
  @inline(__always)
  func point(_ kind: SchedulingPoint) {
    if simulated {
      platform.schedulingPoint(index, kind)
      if checked {
        context.pointee.points &+= 1
        if context.pointee.points & 255 == 0 { checkWatchdog() }
      }
    }
    preemptIfPending()
  }

  // MARK: - Watchdog (checked mode)

  /// Shutdown gave up on this processor. Read from the stopping thread while this processor's
  /// thread does not change its frames (simulated: it does not run; live: it spins inside the
  /// callback that never returns).
  func reportStuck() {
    guard let frame = context.pointee.frames.last else { return }
    let ran = platform.now().nanoseconds &- frame.entryTime
    let how = checked ? " after \(ran / 1_000_000) ms" : ""
    frame.adapter?.violation(
      .callbackStuck, on: nil,
      "\(frame.routine) (\(frame.role)) on processor \(index) had not returned\(how) when the runtime "
        + "shut down; the processor was abandoned")
  }

  /// CALLBACK_TIMEOUT (bug check 0x133, P1=0): the current callback, entered at DISPATCH_LEVEL
  /// or above, has run longer than `watchdog.callback`. Reported once per callback; looked at
  /// when it returns, when it stalls, and every 256th scheduling point while it runs.
  func checkWatchdog() {
    let n = context.pointee.frames.count
    guard checked, n > 0 else { return }
    let frame = context.pointee.frames[n - 1]
    guard !frame.overran, frame.entryIrql >= .dispatch, frame.role != .portWork else { return }
    let ran = platform.coarseNow().nanoseconds &- frame.entryTime
    guard ran > watchdog.callback else { return }
    context.pointee.frames[n - 1].overran = true
    frame.adapter?.violation(
      .callbackTimeout, on: self,
      "\(frame.routine) (\(frame.role)) has run \(ran / 1_000_000) ms at \(frame.entryIrql); "
        + "the limit is \(watchdog.callback / 1_000_000) ms")
  }

  /// DISPATCH_WATCHDOG (bug check 0x133, P1=1): interrupt- and DPC-level work back to back for
  /// longer than `watchdog.dispatch` without the DPC queue draining — a DPC that re-issues
  /// itself forever keeps a real processor at DISPATCH_LEVEL the same way. Charged to the
  /// adapter whose work runs when the limit passes.
  private func noteDispatchWork(_ work: borrowing Work) {
    guard work.queue <= 1 else {
      context.pointee.dispatchSince = 0
      return
    }
    let now = platform.coarseNow().nanoseconds
    let since = context.pointee.dispatchSince
    if since == 0 {
      context.pointee.dispatchSince = now
    } else if now &- since > watchdog.dispatch, let adapter = work.adapter {
      context.pointee.dispatchSince = now
      adapter.violation(
        .dispatchWatchdog, on: self,
        "processor \(index) has run DPC- and interrupt-level work for \((now &- since) / 1_000_000) ms "
          + "without its DPC queue draining (now \(work.description)); the limit is \(watchdog.dispatch / 1_000_000) ms"
      )
    }
  }

  /// Delivers what may preempt the current IRQL: interrupts below DIRQL, DPCs below DISPATCH.
  @inline(__always)
  func preemptIfPending() {
    if pendingInterrupts.load(ordering: .relaxed) > 0 && irql < .device && !delivering {
      deliverPending(maxQueue: 0)
    }
    if irql < .dispatch && pendingDpcLevel.load(ordering: .relaxed) > 0 && !delivering {
      deliverPending(maxQueue: 1)
    }
  }

  private func deliverPending(maxQueue: Int) {
    delivering = true
    defer { delivering = false }
    while let work = take(maxQueue: maxQueue) { execute(work) }
  }

  // MARK: - IRQL

  /// Raises the virtual IRQL (never lowers it); returns the previous level.
  @inline(__always)
  func raise(to level: Irql) -> Irql {
    assertOwnThread()
    let old = irql
    if level > irql { irql = level }
    return old
  }

  /// Lowers the virtual IRQL to `level`. Dropping to DISPATCH_LEVEL or below applies the
  /// actions deferred at DIRQL (D8).
  @inline(__always)
  func lower(to level: Irql) {
    assertOwnThread()
    assert(level <= irql, "bug in swift-storport: lower(to: \(level)) at \(irql) would raise the IRQL")
    restoreIrql(level)
  }

  /// Sets the IRQL to a saved value — `Context.OldIrql` on a lock release, the entry IRQL
  /// after a callback that changed it — which a miniport's misuse (releasing locks out of
  /// order) can make higher than the current one. Applies deferred actions at ≤ DISPATCH.
  @inline(__always)
  func restoreIrql(_ level: Irql) {
    irql = level
    if level <= .dispatch && !deferred.isEmpty { applyDeferred() }
  }

  /// Debug builds: the execution context belongs to this processor's thread alone.
  @inline(__always)
  func assertOwnThread() {
    assert(
      storport_get_current() == Unmanaged.passUnretained(self).toOpaque(),
      "bug in swift-storport: processor \(index)'s context touched from another thread")
  }

  private func applyDeferred() {
    let actions = deferred
    deferred.removeAll(keepingCapacity: true)
    for action in actions { action.apply(on: self) }
  }

  // MARK: - Raw locking (no verifier checks)

  /// Acquires `lock` for this context (spinning or, simulated, blocking) and records it.
  @inline(__always)
  func acquire(_ lock: SpinLock, byPort: Bool) -> UInt64 {
    point(.lockAcquire)
    if !lock.tryAcquire() {
      bump(lockCounter + 1)
      spinAcquire(lock)
    }
    return noteAcquired(lock, byPort: byPort)
  }

  /// Counts an acquisition that had to wait (a channel token the port took for StartIo or
  /// HwStorResetBus) with the contended lock acquisitions.
  func noteContended() { bump(lockCounter + 1) }

  /// Records `lock`, just taken, as held by this context; returns its serial.
  @inline(__always)
  func noteAcquired(_ lock: SpinLock, byPort: Bool) -> UInt64 {
    bump(lockCounter)
    raceDetector?.acquire(index, SyncObject(lock))
    lockSerial &+= 1
    context.pointee.held.append(HeldLock(lock: lock, byPort: byPort, serial: lockSerial))
    return lockSerial
  }

  /// Takes a lock that stands behind another one this context records (an MSI message lock
  /// behind the Interrupt lock): not recorded, not a scheduling point of its own.
  func acquireUnrecorded(_ lock: SpinLock) {
    if !lock.tryAcquire() { spinAcquire(lock) }
    raceDetector?.acquire(index, SyncObject(lock))
  }

  func releaseUnrecorded(_ lock: SpinLock) {
    raceDetector?.release(index, SyncObject(lock))
    lock.unlock()
    if simulated { platform.signal(ObjectIdentifier(lock)) }
  }

  /// Contended path: spin (simulated: block in the scheduler); live, give the core away now
  /// and then, since the holder may be a descheduled thread.
  @inline(never)
  func spinAcquire(_ lock: SpinLock) {
    lock.contentions.add(1, ordering: .relaxed)
    var attempt = 0
    while !lock.tryAcquire() {
      platform.wait(index, on: ObjectIdentifier(lock), attempt: attempt)
      attempt &+= 1
    }
  }

  /// Releases a lock this context holds (by identity).
  @inline(__always)
  func release(_ lock: SpinLock) {
    guard let i = context.pointee.held.lastIndex(of: lock) else {
      preconditionFailure(
        "bug in swift-storport: processor \(index) released \(lock.name), which its context does not hold")
    }
    context.pointee.held.remove(at: i)
    unlockReleased(lock)
  }

  /// The rest of a release once `lock` is off the held stack: race detection, the word, the
  /// simulated waiters, the scheduling point.
  @inline(__always)
  private func unlockReleased(_ lock: SpinLock) {
    raceDetector?.release(index, SyncObject(lock))
    lock.unlock()
    if simulated { platform.signal(ObjectIdentifier(lock)) }
    point(.lockRelease)
  }

  /// Releases `lock` when it is the newest lock this context holds and its handle's serial is
  /// `serial` — the last-in, first-out release of nearly every call: no search of the held
  /// stack. False (nothing done) otherwise: the caller takes the general path.
  @inline(__always)
  func releaseIfNewest(_ lock: SpinLock, serial: UInt64) -> Bool {
    guard let top = context.pointee.held.last, top.serial == serial else { return false }
    precondition(
      top.lock === lock,
      "bug in swift-storport: lock serial \(serial) names \(top.lock.name), not \(lock.name)")
    context.pointee.held.removeLast()
    unlockReleased(lock)
    return true
  }

  func holds(_ lock: SpinLock) -> Bool { context.pointee.held.contains { $0.lock === lock } }

  /// Whether this context holds a lock with handle serial `serial` (no copy of the list).
  @inline(__always)
  func holdsSerial(_ serial: UInt64) -> Bool {
    context.pointee.held.last?.serial == serial || context.pointee.held.contains { $0.serial == serial }
  }

  /// Waits (spinning or, simulated, polling) until `condition` holds.
  /// Interrupts and (below DISPATCH) DPCs still run on this processor while it waits. Gives
  /// up when the platform stops (shutdown must not hang on a miniport that never finishes).
  func waitUntil(_ condition: () -> Bool) {
    while !condition() && !platform.isStopping {
      platform.poll(index)
      preemptIfPending()
    }
  }

  // MARK: - Callback invocation

  var currentFrame: CallbackFrame? { context.pointee.frames.last }

  /// Locks the current callback may acquire (nil outside callbacks), without copying the frame.
  @inline(__always)
  var currentAllowed: LockMask? { context.pointee.frames.last?.allowed }

  /// The identity of the adapter whose callback runs (nil outside callbacks), read in place.
  @inline(__always)
  var currentAdapterIdentity: UnsafeMutableRawPointer? { context.pointee.frames.last?.adapterIdentity }

  /// The current callback's role, without copying the frame.
  @inline(__always)
  var currentRole: CallbackRole? { context.pointee.frames.last?.role }

  /// The locks held, read in place (no copy of the list).
  @inline(__always)
  func firstHeld(where predicate: (HeldLock) -> Bool) -> HeldLock? {
    context.pointee.held.first(where: predicate)
  }

  /// Runs a miniport callback with the context bookkeeping around it: pushes the frame, traces
  /// entry and exit, and — checked mode — reports an IRQL not restored (rule 75) or a lock
  /// still held (rule 46) at return, then repairs both so the system keeps running.
  @inline(__always)
  func invoke<R>(
    _ adapter: StorPort, _ role: CallbackRole, _ routine: TraceName, allowed: LockMask,
    _ body: () -> R
  ) -> R {
    let entryIrql = irql
    frames.append(
      CallbackFrame(
        role: role, routine: routine, adapter: adapter, entryIrql: entryIrql,
        heldAtEntry: context.pointee.held.count, allowed: allowed,
        entryTime: checked ? platform.coarseNow().nanoseconds : 0))
    bump(Int(role.rawValue))
    if tracing { adapter.trace(on: self, .callbackEnter, routine, a: UInt64(role.rawValue)) }
    let result = body()
    let frame = context.pointee.frames[context.pointee.frames.count - 1]
    if context.pointee.held.count > frame.heldAtEntry {
      let names = held[frame.heldAtEntry...].map(\.lock.name).joined(separator: ", ")
      adapter.violation(
        .lockHeldAtReturn, on: self,
        "\(routine) (\(role)) returned holding \(names); the port released it")
      while context.pointee.held.count > frame.heldAtEntry {
        release(context.pointee.held[context.pointee.held.count - 1].lock)
      }
    }
    if irql != entryIrql {
      adapter.violation(
        .irqlNotRestoredAtReturn, on: self,
        "\(routine) (\(role)) was entered at \(entryIrql) and returned at \(irql)")
      restoreIrql(entryIrql)
    }
    if checked && frame.entryIrql >= .dispatch
      && platform.coarseNow().nanoseconds &- frame.entryTime > watchdog.callback
    {
      checkWatchdog()
    }
    if tracing { adapter.trace(on: self, .callbackExit, routine, a: UInt64(role.rawValue)) }
    frames.removeLast()
    return result
  }

  /// Records a read or write of tracked miniport state with the race detector (if any).
  func noteTrackedAccess(cell: UInt, name: String, isWrite: Bool, fileID: StaticString, line: UInt) {
    noteAccess(cell: cell, isWrite: isWrite) { (name, "\(fileID):\(line)") }
  }

  /// Records a read or write of miniport state with the race detector (if any): `describe`
  /// names the cell and the source location (called once per access, only when detecting).
  func noteAccess(cell: UInt, isWrite: Bool, _ describe: () -> (cell: String, location: String)) {
    guard let detector = raceDetector else { return }
    let before = detector.races.count
    detector.access(cell, isWrite: isWrite, by: index) {
      let (name, location) = describe()
      return StateAccess(
        cell: name, isWrite: isWrite, processor: index, callback: callbackDescription, irql: "\(irql)",
        locksHeld: heldDescription, location: location,
        step: runtime.simulation?.decisions ?? 0)
    }
    if detector.races.count > before, tracing, let adapter = currentFrame?.adapter,
      let race = detector.races.last
    {
      adapter.trace(on: self, .diagnostic, "data race on \(race.second.cell) at \(race.second.location)")
    }
  }

  /// Locks held, for reports ("StartIoLock (port)").
  var heldDescription: [String] {
    held.map { $0.lock.name + ($0.byPort ? " (port)" : "") }
  }

  /// The current callback's description for reports.
  var callbackDescription: String {
    guard let f = frames.last else { return "none" }
    let routine = f.routine.description
    return routine == f.role.description ? routine : "\(f.role) \(routine)"
  }

  /// The calling processor, unretained: valid while its thread runs (which is whenever
  /// its code calls this).
  @inline(__always)
  static var currentUnretained: Unmanaged<Processor>? {
    guard let raw = storport_get_current() else { return nil }
    return Unmanaged<Processor>.fromOpaque(raw)
  }

  /// Runs `body` with the calling processor (nil on a thread that is not one) as a guaranteed
  /// reference: no reference count, where ``current`` costs a retain and a release (about 40
  /// instructions) — for the paths every request and interrupt takes.
  @inline(__always)
  static func withCurrent<R>(_ body: (Processor?) -> R) -> R {
    guard let raw = storport_get_current() else { return body(nil) }
    return Unmanaged<Processor>.fromOpaque(raw)._withUnsafeGuaranteedRef { body($0) }
  }

  /// Whether the calling thread is this processor's (no reference count).
  @inline(__always)
  var isCurrent: Bool { storport_get_current() == Unmanaged.passUnretained(self).toOpaque() }

  /// The calling processor (nil on a thread that is not one); costs a reference count — hot
  /// paths use ``withCurrent(_:)``.
  @inline(__always)
  static var current: Processor? {
    guard let raw = storport_get_current() else { return nil }
    return Unmanaged<Processor>.fromOpaque(raw).takeUnretainedValue()
  }
}

/// Something recorded at DIRQL and applied when the IRQL drops to DISPATCH_LEVEL (D8).
enum DeferredAction {
  case adapterTimer(StorPort, ErasedTimer?, microseconds: UInt64)
  case extendedTimer(StorPort, slot: Int, generation: UInt64)

  func apply(on p: Processor) {
    switch self {
    case .adapterTimer(let adapter, let routine, let us):
      adapter.applyRequestTimerCall(routine, microseconds: us, on: p)
    case .extendedTimer(let adapter, let slot, let generation):
      adapter.applyExtendedTimerArm(slot: slot, generation: generation, on: p)
    }
  }
}
