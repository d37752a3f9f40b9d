import Synchronization

/// `STOR_DPC` — a miniport DPC object, embedded in the device extension, initialised with
/// `StorPortInitializeDpc` and queued with `StorPortIssueDpc`.
///
/// Guarantees (D2, rules 28–33): issuing an idle DPC queues it on the issuing processor and
/// returns `true`; issuing a queued DPC returns `false` and drops that call's arguments (the
/// first arguments win); issuing a running DPC returns `true` and runs it exactly once more,
/// strictly after the current run returns. One STOR_DPC never runs on two processors at once;
/// different STOR_DPCs do. The port never holds the DPC's lock while the routine runs (D2/D3).
public final class StorDpc: @unchecked Sendable {
  enum Phase: UInt8 { case idle, queued, running, runningRequeued }

  struct State {
    var phase = Phase.idle
    var generation: UInt64 = 0
    var argument1: UInt = 0
    var argument2: UInt = 0
    var next1: UInt = 0
    var next2: UInt = 0
    var target = 0
  }

  let state = Locked(State())
  /// Set by StorPortInitializeDpc; nil means "not initialised".
  nonisolated(unsafe) var routine: ErasedDpcRoutine?
  nonisolated(unsafe) unowned(unsafe) var adapter: StorPort?
  /// The miniport-visible `DpcLock` of this object (D3).
  let lock = SpinLock(kind: .dpcLock, name: "DpcLock")
  /// Completed runs (statistics).
  let runs = Atomic<UInt64>(0)
  /// This DPC's number within its adapter (1-based, in order of first initialisation): the
  /// `object` of its trace events, so a trace pairs each issue with its run.
  nonisolated(unsafe) var traceNumber: UInt32 = 0

  /// A STOR_DPC that must be initialised with `initializeDpc` before use.
  public init() {}

  /// The routine name given at initialisation (for reports).
  public var routineName: String { routine?.name ?? "uninitialised STOR_DPC" }

  /// Number of completed executions.
  public var executionCount: UInt64 { runs.load(ordering: .relaxed) }

  var isQueuedOrRunning: Bool { state.withLock { $0.phase != .idle } }

  /// True while the DPC is queued or running.
  public var isBusy: Bool { isQueuedOrRunning }

  /// The issue transition; returns the value StorPortIssueDpc returns.
  func issue(_ a1: UInt, _ a2: UInt, on p: Processor) -> Bool {
    p.point(.dpcQueue)
    var post: UInt64?
    let accepted = state.withLock { s -> Bool in
      switch s.phase {
      case .idle:
        s.phase = .queued
        s.generation &+= 1
        s.argument1 = a1
        s.argument2 = a2
        s.target = p.index
        post = s.generation
        return true
      case .running:
        s.phase = .runningRequeued
        s.next1 = a1
        s.next2 = a2
        s.target = p.index
        return true
      case .queued, .runningRequeued:
        return false
      }
    }
    if let generation = post { p.post(.dpc(self, generation: generation)) }
    return accepted
  }

  /// StorPortCancelDpc's transition: true if a pending run was removed.
  func cancel() -> Bool {
    state.withLock { s in
      switch s.phase {
      case .queued:
        s.phase = .idle
        s.generation &+= 1
        return true
      case .runningRequeued:
        s.phase = .running
        return true
      case .idle, .running:
        return false
      }
    }
  }

  /// Drops a queued run without reporting (adapter stop, D13).
  func discardPending() { _ = cancel() }

  func execute(on p: Processor, generation: UInt64) {
    guard let adapter, let routine else { return }
    let args = state.withLock { s -> (UInt, UInt)? in
      guard s.phase == .queued, s.generation == generation else { return nil }
      s.phase = .running
      return (s.argument1, s.argument2)
    }
    guard let (a1, a2) = args else { return }
    var result = false
    if adapter.beginCallback() {
      let old = p.raise(to: .dispatch)
      adapter.trace(on: p, .dpcStart, routine.name, a: UInt64(a1), b: UInt64(a2), object: traceNumber)
      result = p.invoke(adapter, .dpc, routine.name, allowed: .all) {
        routine.call(self, adapter.deviceExtension, a1, a2)
      }
      adapter.trace(on: p, .dpcEnd, routine.name, a: result ? 1 : 0, object: traceNumber)
      p.lower(to: old)
      adapter.endCallback()
      runs.add(1, ordering: .relaxed)
    } else {
      adapter.trace(on: p, .dpcDropped, routine.name, object: traceNumber)
    }
    var requeue: (Int, UInt64)?
    state.withLock { s in
      if s.phase == .runningRequeued && adapter.acceptsCallbacks {
        s.phase = .queued
        s.generation &+= 1
        s.argument1 = s.next1
        s.argument2 = s.next2
        requeue = (s.target, s.generation)
      } else {
        s.phase = .idle
      }
    }
    if let (target, generation) = requeue {
      adapter.runtime.processors[target].post(.dpc(self, generation: generation))
    }
  }
}
