extension StorPort {
  /// `StorPortInitializeWorker(HwDeviceExtension, Worker)`: a work item for later
  /// StorPortQueueWorkItem calls. ≤ DISPATCH_LEVEL (above: INVALID_IRQL, and in checked mode
  /// WRONG_IRQL_FOR_ROUTINE); INVALID_PARAMETER for a NULL `worker`; INSUFFICIENT_RESOURCES
  /// past ``WorkItems/limit``.
  public func initializeWorker(_ worker: UnsafeMutablePointer<StorWorkerHandle?>?) -> StorStatus {
    guard let p = serviceContext("StorPortInitializeWorker") else { return .invalidDeviceRequest }
    guard atMostDispatch("StorPortInitializeWorker", on: p) else { return .invalidIrql }
    guard let worker else { return .invalidParameter }
    let handle = workItems.slots.withLock { slots -> StorWorkerHandle? in
      let i =
        slots.firstIndex { $0.state == .free }
        ?? {
          guard slots.count < WorkItems.limit else { return nil }
          slots.append(WorkItems.Slot())
          return slots.count - 1
        }()
      guard let i else { return nil }
      slots[i].state = .idle
      slots[i].generation &+= 1
      slots[i].requeued = false
      slots[i].freedWhileRunning = false
      return StorWorkerHandle(slot: i, generation: slots[i].generation, adapter: index)
    }
    guard let handle else { return .insufficientResources }
    worker.pointee = handle
    return .success
  }

  /// Convenience form of `initializeWorker` for a non-NULL handle.
  public func initializeWorker(_ worker: inout StorWorkerHandle?) -> StorStatus {
    withUnsafeMutablePointer(to: &worker) { initializeWorker($0) }
  }

  /// `StorPortQueueWorkItem(HwDeviceExtension, WorkItemCallback, Worker, Context)`: runs
  /// `callback` soon at PASSIVE_LEVEL on a processor's worker queue, with no port lock held.
  /// BUSY if that work item is already queued; INVALID_DEVICE_STATE while the adapter is
  /// stopping, stopped or removed; INVALID_IRQL above DISPATCH_LEVEL (a violation in checked
  /// mode); INVALID_PARAMETER for a NULL callback or worker, or one that was freed.
  public func queueWorkItem<E>(_ callback: HwWorkItem<E>?, worker: StorWorkerHandle?, context: UInt = 0)
    -> StorStatus
  {
    guard let p = serviceContext("StorPortQueueWorkItem") else { return .invalidDeviceRequest }
    guard atMostDispatch("StorPortQueueWorkItem", on: p) else { return .invalidIrql }
    guard let callback, let worker else { return .invalidParameter }
    guard matchesExtension(E.self, callback.name, on: p) else { return .invalidParameter }
    guard ownsWorker(worker, "StorPortQueueWorkItem", on: p) else { return .invalidParameter }
    guard acceptsCallbacks else { return .invalidDeviceState }
    p.raceDetector?.release(p.index, workItemSyncObject(worker))
    let outcome = workItems.slots.withLock { slots -> WorkItems.QueueOutcome in
      guard worker.slot < slots.count, slots[worker.slot].generation == worker.generation else {
        return .invalid
      }
      switch slots[worker.slot].state {
      case .free: return .invalid
      case .queued: return .busy
      case .running:
        if slots[worker.slot].requeued { return .busy }
        slots[worker.slot].requeued = true
        slots[worker.slot].callback = callback.erased
        slots[worker.slot].context = context
        return .requeueWhileRunning
      case .idle:
        slots[worker.slot].state = .queued
        slots[worker.slot].callback = callback.erased
        slots[worker.slot].context = context
        return .post
      }
    }
    switch outcome {
    case .invalid: return .invalidParameter
    case .busy: return .busy
    case .requeueWhileRunning: return .success
    case .post:
      postWorkItem(worker, on: p.index)
      return .success
    }
  }

  /// `StorPortFreeWorker(HwDeviceExtension, Worker)`: BUSY while it is queued, UNSUCCESSFUL if
  /// already free, INVALID_IRQL above DISPATCH_LEVEL (a violation in checked mode). Its own
  /// callback may free it while running.
  public func freeWorker(_ worker: StorWorkerHandle?) -> StorStatus {
    guard let p = serviceContext("StorPortFreeWorker") else { return .invalidDeviceRequest }
    guard atMostDispatch("StorPortFreeWorker", on: p) else { return .invalidIrql }
    guard let worker else { return .invalidParameter }
    guard ownsWorker(worker, "StorPortFreeWorker", on: p) else { return .invalidParameter }
    return workItems.slots.withLock { slots -> StorStatus in
      guard worker.slot < slots.count, slots[worker.slot].generation == worker.generation else {
        return .unsuccessful
      }
      switch slots[worker.slot].state {
      case .free: return .unsuccessful
      case .queued: return .busy
      case .running:
        slots[worker.slot].freedWhileRunning = true
        return .success
      case .idle:
        slots[worker.slot].state = .free
        slots[worker.slot].callback = nil
        return .success
      }
    }
  }

  private func postWorkItem(_ worker: StorWorkerHandle, on cpu: Int) {
    post(
      to: cpu,
      .passive { [self] in
        guard let p = Processor.current else { return }
        runWorkItem(worker, on: p)
      })
  }

  /// Runs a queued work item as a callback (PASSIVE, no port locks, gated: a stopped adapter's
  /// queued work items do not run), then returns it to idle — or queues it again, or frees it,
  /// as its callback asked.
  /// The race detector's object for a work item: StorPortQueueWorkItem → its run.
  func workItemSyncObject(_ worker: StorWorkerHandle) -> SyncObject {
    SyncObject(id: UInt(bitPattern: ObjectIdentifier(self)) &+ UInt(worker.slot), tag: 9)
  }

  func runWorkItem(_ worker: StorWorkerHandle, on p: Processor) {
    var taken: (ErasedWorkItem, UInt)? = nil
    _ = call(
      .workItem, taken?.0.traceName ?? .hwWorkItem, on: p,
      admit: {
        p.raceDetector?.acquire(p.index, workItemSyncObject(worker))
        taken = workItems.slots.withLock { slots -> (ErasedWorkItem, UInt)? in
          guard worker.slot < slots.count, slots[worker.slot].generation == worker.generation,
            slots[worker.slot].state == .queued, let cb = slots[worker.slot].callback
          else { return nil }
          slots[worker.slot].state = .running
          return (cb, slots[worker.slot].context)
        }
        return taken != nil
      }
    ) { withExtension { taken!.0.call($0, taken!.1, worker) } }
    let again = workItems.slots.withLock { slots -> Bool in
      guard worker.slot < slots.count, slots[worker.slot].generation == worker.generation else {
        return false
      }
      var s = slots[worker.slot]
      defer { slots[worker.slot] = s }
      if s.state == .queued && taken == nil {
        s.state = .idle  // not run (the adapter stopped): back to idle, never lost as "queued"
        return false
      }
      guard s.state == .running else { return false }
      if s.freedWhileRunning {
        s = WorkItems.Slot(state: .free, generation: s.generation)
        return false
      }
      if s.requeued {
        s.requeued = false
        s.state = .queued
        return true
      }
      s.state = .idle
      return false
    }
    if again { postWorkItem(worker, on: p.index) }
  }

  private func ownsWorker(_ worker: StorWorkerHandle, _ service: StaticString, on p: Processor) -> Bool {
    owns(worker.adapter, "a work item", service, on: p)
  }

  /// Services documented "IRQL ≤ DISPATCH_LEVEL": above it, reported (checked mode) and refused.
  func atMostDispatch(_ service: StaticString, on p: Processor) -> Bool {
    guard p.irql > .dispatch else { return true }
    violation(.wrongIrqlForRoutine, on: p, "\(service) at \(p.irql); it needs ≤ DISPATCH_LEVEL")
    return false
  }
}
