import Storport
import Synchronization

/// Per-adapter state of ``DemoMiniport``.
public final class DemoExtension: DeviceExtension, @unchecked Sendable {
  /// One completion queue per MSI-X message: its DPC, its pending completions, and the
  /// time its ISR issued the DPC (for the DPC-latency figure).
  public final class Queue: @unchecked Sendable {
    public let dpc = StorDpc()
    /// Completed by the "device", not yet reported: guarded by `dpc`'s DpcLock.
    var done: [StorRequest] = []
    let issuedAt = InterlockedValue()
    init() { done.reserveCapacity(256) }
  }

  public var queues: [Queue] = []
  /// Requests handed to the device and not yet completed (StartIo ↔ DPC ↔ timer).
  public let inFlight = InterlockedValue()
  /// Submissions in the current watchdog window: StartIo adds, HwStorTimer takes with exchange.
  public let window = InterlockedValue()
  /// Watchdog hand-off word, shared by concurrent StartIo and HwStorTimer with
  /// compare-exchange only: 0 idle, 1 armed (I/O in flight), 2 the timer is checking.
  public let watchdog = InterlockedValue()
  /// Compare-exchange attempts that lost to the other side (a measure of the race).
  public let handOffRaces = InterlockedValue()
  public let timerTicks = InterlockedValue()
  public let lastWindow = InterlockedValue()
  public let stallTicks = InterlockedValue()
  public let idleTicks = InterlockedValue()
  public let completions = InterlockedValue()
  public let dpcLatency = Locked<[UInt64]>([])
  public required init() {}
}

/// The demonstration miniport of `storport run`: a physical, full-duplex adapter that uses
/// every mechanism of the runtime the way real drivers do.
///
/// * HwStorInitialize sets concurrent channels (`STOR_PERF_CONCURRENT_CHANNELS`), enables the
///   passive-initialize routine and arms a periodic HwStorTimer that re-arms itself.
/// * The passive routine initialises one STOR_DPC per MSI-X message.
/// * HwStorStartIo runs on channels without the StartIo lock; it "rings the doorbell" of a
///   device that completes at once and raises the queue's MSI-X message.
/// * HwMSInterruptRoutine (per-message locks) issues the queue's DPC; the DPC drains the
///   queue under its DpcLock and completes the requests.
/// * HwStorTimer is a watchdog. Because StartIo runs without the StartIo lock, the timer and
///   StartIo can run at the same time (the hazard the HW_TIMER page describes); they share
///   state only through interlocked exchange and compare-exchange.
public final class DemoMiniport: Miniport, @unchecked Sendable {
  public typealias Extension = DemoExtension
  public let initializationData = MiniportInitializationData(name: "demo")
  public let queueCount: Int
  public let channels: Int
  public let timerPeriodMicroseconds: UInt32
  /// The hardware this miniport drives (the host connects it to the adapter).
  public let device = DemoDevice()

  // Role-typed routines, declared once (set in init, never changed).
  private var passiveInitialize: HwPassiveInitializeRoutine<DemoExtension>!
  private var completionDpc: HwDpcRoutine<DemoExtension>!
  private var watchdogTimer: HwTimer<DemoExtension>!

  public init(queues: Int, channels: Int = 2, timerPeriodMicroseconds: UInt32 = 1000) {
    queueCount = max(1, queues)
    self.channels = channels
    self.timerPeriodMicroseconds = timerPeriodMicroseconds
    completionDpc = HwDpcRoutine("DemoCompletionDpc", Self.completionDpcBody)
    passiveInitialize = HwPassiveInitializeRoutine("DemoPassiveInit") { [unowned self] ext in
      for q in ext.queues { ext.port.initializeDpc(q.dpc, completionDpc) }
      return true
    }
    watchdogTimer = HwTimer("DemoWatchdogTimer") { [unowned self] ext in watchdog(ext) }
  }

  public func findAdapter(_ ext: DemoExtension, _ c: inout PortConfiguration) -> FindAdapterResult {
    c.synchronizationModel = .fullDuplex
    c.interruptSynchronizationMode = .synchronizePerMessage
    c.messageCount = UInt32(queueCount)
    c.numberOfPhysicalBreaks = 33
    c.maximumTransferLength = 128 * 1024
    ext.queues = (0..<queueCount).map { _ in DemoExtension.Queue() }
    return .found
  }

  public func initialize(_ ext: DemoExtension) -> Bool {
    var perf = PerfConfigurationData()
    guard ext.port.initializePerfOpts(query: true, &perf) == .success else { return false }
    if perf.flags.contains(.concurrentChannels) && channels > 1 {
      var set = PerfConfigurationData()
      set.flags = [.concurrentChannels]
      set.concurrentChannels = UInt32(channels)
      _ = ext.port.initializePerfOpts(query: false, &set)
    }
    ext.port.enablePassiveInitialization(passiveInitialize)
    ext.port.requestTimerCall(watchdogTimer, microseconds: timerPeriodMicroseconds)
    return true
  }

  public func startIo(_ ext: DemoExtension, _ request: StorRequest) -> Bool {
    if request.function != .executeScsi {
      request.srbStatus = .success
      ext.port.requestComplete(request)
      return true
    }
    ext.window.increment()
    ext.inFlight.increment()
    // Hand-off: arm the watchdog if it is idle. If the timer is checking (2) or it is
    // already armed (1) the compare-exchange fails, and that is correct: the timer re-arms
    // whenever it sees I/O in flight.
    if ext.watchdog.compareExchange(exchange: 1, comparand: 0) == 2 { ext.handOffRaces.increment() }
    let q = Int(ext.port.getStartIoPerfParams(request).messageNumber) % ext.queues.count
    let queue = ext.queues[q]
    // The "device": completes at once and signals the queue's MSI-X message.
    ext.port.withSpinLock(.dpcLock, context: queue.dpc) { queue.done.append(request) }
    device.ringDoorbell(queue: q)
    return true
  }

  public func messageSignaledInterrupt(_ ext: DemoExtension, messageId: UInt32) -> Bool {
    let queue = ext.queues[Int(messageId) % ext.queues.count]
    if let now = ext.port.executionContext?.time {
      _ = queue.issuedAt.compareExchange(exchange: Int64(now), comparand: 0)
    }
    ext.port.issueDpc(queue.dpc, UInt(messageId), 0)
    return true
  }

  /// HwStorDpcRoutine of every queue: drain completions under the queue's DpcLock.
  private static func completionDpcBody(
    _ dpc: StorDpc, _ ext: DemoExtension, _ message: UInt, _: UInt
  ) -> Bool {
    let queue = ext.queues[Int(message) % ext.queues.count]
    let issued = queue.issuedAt.exchange(0)
    if issued != 0, let now = ext.port.executionContext?.time {
      ext.dpcLatency.withLock { if $0.count < 1_000_000 { $0.append(now &- UInt64(issued)) } }
    }
    while true {
      var batch: [StorRequest] = []
      ext.port.withSpinLock(.dpcLock, context: dpc) { swap(&batch, &queue.done) }
      if batch.isEmpty { break }
      for r in batch {
        r.srbStatus = .success
        ext.inFlight.decrement()
        ext.completions.increment()
        ext.port.requestComplete(r)
      }
    }
    return true
  }

  /// HwStorTimer: runs under the StartIo lock, concurrently with channel StartIo calls.
  private func watchdog(_ ext: DemoExtension) {
    ext.timerTicks.increment()
    ext.lastWindow.exchange(ext.window.exchange(0))
    // Take the watchdog from "armed" to "checking"; StartIo may be arming it right now.
    if ext.watchdog.compareExchange(exchange: 2, comparand: 1) == 1 {
      if ext.lastWindow.load() == 0 && ext.inFlight.load() > 0 { ext.stallTicks.increment() }
      let next: Int64 = ext.inFlight.load() > 0 ? 1 : 0
      if ext.watchdog.compareExchange(exchange: next, comparand: 2) != 2 { ext.handOffRaces.increment() }
    } else {
      ext.idleTicks.increment()
    }
    ext.port.requestTimerCall(watchdogTimer, microseconds: timerPeriodMicroseconds)
  }
}
