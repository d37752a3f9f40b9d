import Synchronization

/// `STOR_DPC` — a miniport DPC object, embedded in the device extension, initialised with
/// `StorPortInitializeDpc` and queued with `StorPortIssueDpc`.
///
/// Guarantees (D2, rules 28–33): issuing an idle DPC queues it on the issuing processor (on
/// the simulated platform the explorer may redirect it to another one, as a real system's DPC
/// targeting can) and returns `true`; issuing a queued DPC returns `false` and drops that call's arguments (the
/// first arguments win); issuing a running DPC returns `true` and runs it exactly once more,
/// strictly after the current run returns. One STOR_DPC never runs on two processors at once;
/// different STOR_DPCs do. The port never holds the DPC's lock while the routine runs (D2/D3).
public final class StorDpc: @unchecked Sendable {
  /// The D2 state machine (guarded by its own spin lock, held for a transition only; the port
  /// executes its decisions).
  let state = SpinLocked(DpcState())
  /// Set by StorPortInitializeDpc; nil means "not initialised". Never replaced while the DPC
  /// is queued or running (R-D4), so a run reads it through `routineRef`, unretained.
  var routine: ErasedDpcRoutine? {
    get { routineOwner?.routine }
    set {
      routineOwner = newValue.map(DpcRoutineBox.init)
      routineRef = routineOwner.map { Unmanaged.passUnretained($0) }
    }
  }
  @exclusivity(unchecked) nonisolated(unsafe) private var routineOwner: DpcRoutineBox?
  @exclusivity(unchecked) nonisolated(unsafe) private(set) var routineRef: Unmanaged<DpcRoutineBox>?
  /// Whether StorPortInitializeDpc initialised it.
  var isInitialized: Bool { @inline(__always) get { routineRef != nil } }
  /// The adapter that initialised it (which keeps it, and outlives it): unmanaged, compared
  /// and used without a reference count.
  @exclusivity(unchecked) nonisolated(unsafe) var adapterRef: Unmanaged<StorPort>?
  var adapter: StorPort? { adapterRef?.takeUnretainedValue() }
  /// The miniport-visible `DpcLock` of this object (D3).
  let lock = SpinLock(kind: .dpcLock, name: "DpcLock")
  /// Completed runs (statistics).
  let runs = Atomic<UInt64>(0)
  /// This DPC's number within its adapter (1-based, in order of first initialisation): the
  /// `object` of its trace events, so a trace pairs each issue with its run.
  @exclusivity(unchecked) nonisolated(unsafe) var traceNumber: UInt32 = 0

  /// A STOR_DPC that must be initialised with `initializeDpc` before use.
  public init() {}

  /// The routine name given at initialisation (for reports).
  public var routineName: String { routineTraceName.description }
  var routineTraceName: TraceName {
    routineRef?._withUnsafeGuaranteedRef { $0.routine.traceName } ?? .uninitializedDpc
  }

  /// Number of completed executions.
  public var executionCount: UInt64 { runs.load(ordering: .relaxed) }
  /// How often this STOR_DPC's DpcLock was found taken when acquired.
  public var lockContention: UInt64 { lock.contentions.load(ordering: .relaxed) }

  /// True while the DPC is queued or running.
  public var isBusy: Bool { state.withLock { $0.phase != .idle } }
}

/// A STOR_DPC's routine, in a box whose constant fields a run reads without copying.
final class DpcRoutineBox: Sendable {
  let routine: ErasedDpcRoutine
  init(_ routine: ErasedDpcRoutine) { self.routine = routine }
}

/// The state of one STOR_DPC (D2, rules 28–33), as a pure state machine: issue, cancel and a
/// run's start and end return what the port must do; nothing here posts, calls or traces.
///
///     idle ──issue──▶ queued ──beginRun──▶ running ──endRun──▶ idle
///                       │  ▲                 │  ▲
///                  cancel  └──── endRun ─────┘  issue (TRUE: one more run)
///                       ▼        (requeue)      ▼
///                     idle              running+requeued ──cancel──▶ running
struct DpcState: Sendable {
  enum Phase: UInt8, Sendable { case idle, queued, running, runningRequeued }
  private(set) var phase = Phase.idle
  /// Bumped whenever a queued run is posted or withdrawn: a posted run with an older value is stale.
  private(set) var generation: UInt64 = 0
  private var argument1: UInt = 0
  private var argument2: UInt = 0
  private var next1: UInt = 0
  private var next2: UInt = 0
  /// The processor the last accepted issue came from (where the run goes, D8).
  private(set) var target = 0

  enum IssueDecision: Equatable {
    /// idle → queued: post a run with this generation to the issuing processor; TRUE.
    case post(generation: UInt64)
    /// running → running+requeued: it runs once more after this run; TRUE.
    case runAgain
    /// Already queued (or requeued): these arguments are dropped; FALSE.
    case refused
  }

  mutating func issue(_ a1: UInt, _ a2: UInt, on processor: Int) -> IssueDecision {
    switch phase {
    case .idle:
      phase = .queued
      generation &+= 1
      (argument1, argument2, target) = (a1, a2, processor)
      return .post(generation: generation)
    case .running:
      phase = .runningRequeued
      (next1, next2, target) = (a1, a2, processor)
      return .runAgain
    case .queued, .runningRequeued:
      return .refused
    }
  }

  /// StorPortCancelDpc: true if a pending run was withdrawn (rules 38, 39).
  mutating func cancel() -> Bool {
    switch phase {
    case .queued:
      phase = .idle
      generation &+= 1
      return true
    case .runningRequeued:
      phase = .running
      return true
    case .idle, .running:
      return false
    }
  }

  /// A posted run is dequeued: its arguments if it is still the queued one, else nil (stale,
  /// cancelled, or stopped).
  mutating func beginRun(_ posted: UInt64) -> (UInt, UInt)? {
    guard phase == .queued, generation == posted else { return nil }
    phase = .running
    return (argument1, argument2)
  }

  /// The routine returned. If it was issued meanwhile and runs are still allowed, the next run
  /// to post (processor, generation); else it goes idle.
  mutating func endRun(requeueAllowed: Bool) -> (processor: Int, generation: UInt64)? {
    precondition(
      phase == .running || phase == .runningRequeued, "bug in swift-storport: a DPC ended while \(phase)")
    guard phase == .runningRequeued && requeueAllowed else {
      phase = .idle
      return nil
    }
    phase = .queued
    generation &+= 1
    (argument1, argument2) = (next1, next2)
    return (target, generation)
  }
}
