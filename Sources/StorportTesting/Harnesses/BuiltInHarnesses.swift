import Storport
import StorportDevices
import StorportExplorer
import StorportSamples

/// The harnesses `storport explore` knows by name: each seeded-bug fixture with its fixed
/// twin, and the sample miniports with a small workload (which must explore clean).
public enum BuiltInHarnesses {
  /// Every built-in harness, in listing order.
  public static let all: [ExplorationHarness] = [
    watchdogSlot(
      "timer-startio-race",
      "HW_TIMER hazard: concurrent channels; HwStorTimer and HwStorStartIo share an outstanding-request slot as plain state",
      expectsFailure: true
    ) { RacyWatchdogMiniport(periodMicroseconds: 1, ticks: 8) },
    watchdogSlot(
      "timer-startio-race-fixed", "the same, the slot claimed with InterlockedCompareExchange",
      expectsFailure: false
    ) { WatchdogSlotMiniport(periodMicroseconds: 1, ticks: 8) },
    requests(
      "dpc-redirection-race",
      "a per-queue DPC, redirected to another processor, drains a ring StartIo fills with no lock",
      expectsFailure: true, count: 3
    ) { RacyCompletionRingMiniport() },
    requests(
      "dpc-redirection-race-fixed", "the same, StartIo taking the queue's DpcLock around the ring",
      expectsFailure: false, count: 3
    ) { CompletionRingMiniport() },
    interrupts(
      "isr-reacquires-interrupt-lock",
      "the ISR's first run takes the Interrupt lock the port already holds for it",
      expectsFailure: true
    ) { RacyEarlyInitIsrMiniport() },
    interrupts(
      "isr-reacquires-interrupt-lock-fixed", "the same, relying on the lock the port holds",
      expectsFailure: false
    ) { EarlyInitIsrMiniport() },
    restart(
      "restart-uninitialised-dpc",
      "ScsiRestartAdapter re-zeroes a STOR_DPC that only passive initialisation initialised",
      expectsFailure: true
    ) { RacyRestartDpcMiniport() },
    restart(
      "restart-uninitialised-dpc-fixed", "the same, the DPCs kept across the restart",
      expectsFailure: false
    ) { RestartDpcMiniport() },
    reset(
      "reset-double-completion",
      "HwStorResetBus completes the queue while the completion DPC completes what it copied from it",
      expectsFailure: true
    ) { RacyResetCompletionMiniport() },
    reset(
      "reset-double-completion-fixed",
      "the same, requests handed over under the DpcLock and the reset done by a reset DPC",
      expectsFailure: false
    ) { ResetHandOffMiniport() },
    reset(
      "resetbus-spins-for-dpc",
      "HwStorResetBus busy-waits at DISPATCH_LEVEL for a DPC queued on its own processor",
      expectsFailure: true
    ) { SpinningResetMiniport() },
    reset(
      "resetbus-spins-for-dpc-fixed",
      "the same, the reset handed to a reset DPC that completes with BUS_RESET",
      expectsFailure: false
    ) { ResetHandOffMiniport() },
    ramDisk,
    nvme,
    demo,
  ]

  /// The harness called `name`, if there is one.
  public static func named(_ name: String) -> ExplorationHarness? { all.first { $0.name == name } }

  /// A fixture harness: two processors, the miniport `make` builds, started, then `workload`.
  static func fixture<M: Miniport>(
    _ name: String, _ summary: String, expectsFailure: Bool, _ make: @escaping @Sendable () -> M,
    workload: @escaping @Sendable (HarnessRun, Adapter) -> Void
  ) -> ExplorationHarness {
    ExplorationHarness(name: name, summary: summary, processors: 2, expectsFailure: expectsFailure) { run in
      let adapter = run.attach(make())
      guard run.startAdapter(adapter) else { return }
      workload(run, adapter)
    }
  }

  /// Two requests, one after the other, while the watchdog ticks (eight times, every
  /// microsecond) on the other processor: about 90 decisions.
  static func watchdogSlot<M: WatchdogSlotDesign & Miniport>(
    _ name: String, _ summary: String, expectsFailure: Bool, _ make: @escaping @Sendable () -> M
  ) -> ExplorationHarness {
    fixture(name, summary, expectsFailure: expectsFailure, make) { run, adapter in
      for i in 0..<2 {
        run.submit(StorRequest(tag: UInt64(i)), to: adapter)
        run.runUntilCompleted(limit: 1_000_000)
      }
      run.runUntilQuiescent(limit: 1_000_000)
    }
  }

  /// `count` requests submitted together.
  static func requests<M: Miniport>(
    _ name: String, _ summary: String, expectsFailure: Bool, count: Int, _ make: @escaping @Sendable () -> M
  ) -> ExplorationHarness {
    fixture(name, summary, expectsFailure: expectsFailure, make) { run, adapter in
      for i in 0..<count { run.submit(StorRequest(tag: UInt64(i)), to: adapter) }
      run.runUntilCompleted(limit: 1_000_000)
    }
  }

  /// A request and two interrupts from the device.
  static func interrupts<M: Miniport>(
    _ name: String, _ summary: String, expectsFailure: Bool, _ make: @escaping @Sendable () -> M
  ) -> ExplorationHarness {
    fixture(name, summary, expectsFailure: expectsFailure, make) { run, adapter in
      run.submit(StorRequest(tag: 0), to: adapter)
      adapter.device.raiseInterrupt()
      adapter.device.raiseInterrupt()
      run.runUntilCompleted(limit: 1_000_000)
      run.runUntilQuiescent(limit: 1_000_000)
    }
  }

  /// An interrupt, a stop and restart, another interrupt.
  static func restart<M: Miniport>(
    _ name: String, _ summary: String, expectsFailure: Bool, _ make: @escaping @Sendable () -> M
  ) -> ExplorationHarness {
    fixture(name, summary, expectsFailure: expectsFailure, make) { run, adapter in
      adapter.device.raiseInterrupt()
      run.runUntilQuiescent(limit: 1_000_000)
      adapter.stop()
      run.run(until: { adapter.state == .stopped }, limit: 1_000_000)
      adapter.restart()
      run.run(until: { adapter.state != .starting }, limit: 1_000_000)
      run.expect(adapter.state == .running, "the adapter did not restart (state \(adapter.state))")
      adapter.device.raiseInterrupt()
      run.runUntilQuiescent(limit: 1_000_000)
    }
  }

  /// Two requests and a bus reset while they are in flight.
  static func reset<M: Miniport>(
    _ name: String, _ summary: String, expectsFailure: Bool, _ make: @escaping @Sendable () -> M
  ) -> ExplorationHarness {
    fixture(name, summary, expectsFailure: expectsFailure, make) { run, adapter in
      run.submit(StorRequest(tag: 0), to: adapter)
      run.submit(StorRequest(tag: 1), to: adapter)
      adapter.resetBus()
      run.runUntilCompleted(limit: 1_000_000)
      run.runUntilQuiescent(limit: 1_000_000)
    }
  }

  /// The RAM-disk sample (virtual miniport, DPC completion): two writes then two reads of the
  /// same blocks, all expected to succeed with the data written.
  static let ramDisk = ExplorationHarness(
    name: "ramdisk", summary: "the RAM-disk sample miniport: two 4 KiB writes and two reads back",
    processors: 2
  ) { run in
    guard let store = try? RamStore(bytes: 1 << 20, blockSize: 4096) else {
      run.expect(false, "could not allocate the RAM store")
      return
    }
    let adapter = run.attach(RamDiskMiniport(store: store, completion: .dpc))
    guard run.startAdapter(adapter) else { return }
    blockIo(run, adapter, blockSize: 4096)
  }

  /// The NVMe sample miniport and its device model: brought up, then two writes and two reads.
  static let nvme = ExplorationHarness(
    name: "nvme",
    summary: "the NVMe sample miniport and device model: bring-up, two 4 KiB writes and two reads back",
    processors: 2
  ) { run in
    let store = NullStore(bytes: 1 << 20, blockSize: 4096)
    let controller = NvmeController(store: store, platform: run.runtime.platform)
    run.keepAlive(controller)
    let adapter = run.attach(NvmeMiniport(device: controller, queues: 2, watchdogMicroseconds: 100))
    controller.connectInterrupts(adapter.device)
    guard run.startAdapter(adapter) else { return }
    let ext = adapter.deviceExtension(as: NvmeExtension.self)
    run.expect(
      run.run(until: { ext.startupsCompleted.load() > 0 }, limit: 100_000_000),
      "the NVMe controller did not come up")
    blockIo(run, adapter, blockSize: 4096, verifyData: false)
  }

  /// The demo miniport (concurrent channels, per-queue DPCs, watchdog timer) with four requests.
  static let demo = ExplorationHarness(
    name: "demo",
    summary: "the demo miniport: concurrent channels, per-queue DPCs, a watchdog timer; four requests",
    processors: 2
  ) { run in
    let miniport = DemoMiniport(queues: 2, channels: 2, timerPeriodMicroseconds: 50)
    let adapter = run.attach(miniport)
    miniport.device.connect(adapter.device)
    guard run.startAdapter(adapter) else { return }
    for i in 0..<4 { run.submit(StorRequest(tag: UInt64(i)), to: adapter) }
    run.expect(run.runUntilCompleted(limit: 10_000_000), "the demo's requests did not complete")
  }

  /// Writes blocks 0 and 1 with known bytes, then reads them back and compares (unless the
  /// store keeps nothing).
  public static func blockIo(_ run: HarnessRun, _ adapter: Adapter, blockSize: Int, verifyData: Bool = true) {
    let pool = StorRequestPool(count: 4, bufferBytes: blockSize)
    run.keepAlive(pool)
    var writes: [StorRequest] = []
    for lba in 0..<2 {
      let r = pool.take()!
      BlockRequest.set(r, write: true, lba: UInt64(lba), blocks: 1, blockSize: blockSize)
      r.data.initializeMemory(as: UInt8.self, repeating: UInt8(0xA0 + lba))
      writes.append(r)
      run.submit(r, to: adapter)
    }
    run.expect(run.runUntilCompleted(limit: 10_000_000), "the writes did not complete")
    for w in writes { run.expect(w.srbStatus == .success, "a write ended with \(w.srbStatus)") }
    var reads: [StorRequest] = []
    for lba in 0..<2 {
      let r = pool.take()!
      BlockRequest.set(r, write: false, lba: UInt64(lba), blocks: 1, blockSize: blockSize)
      reads.append(r)
      run.submit(r, to: adapter)
    }
    run.expect(run.runUntilCompleted(limit: 10_000_000), "the reads did not complete")
    for (lba, r) in reads.enumerated() {
      run.expect(r.srbStatus == .success, "a read ended with \(r.srbStatus)")
      if verifyData {
        run.expect(
          r.data.allSatisfy { $0 == UInt8(0xA0 + lba) }, "block \(lba) did not read back what was written")
      }
    }
  }
}

/// SCSI READ(16) / WRITE(16) requests for harnesses.
public enum BlockRequest {
  /// Makes `r` a READ(16) or WRITE(16) of `blocks` blocks at `lba`, using its own buffer.
  public static func set(_ r: StorRequest, write: Bool, lba: UInt64, blocks: UInt32, blockSize: Int) {
    var cdb = [UInt8](repeating: 0, count: 16)
    cdb[0] = write ? 0x8A : 0x88
    for i in 0..<8 { cdb[2 + i] = UInt8(truncatingIfNeeded: lba >> (56 - 8 * UInt64(i))) }
    for i in 0..<4 { cdb[10 + i] = UInt8(truncatingIfNeeded: blocks >> (24 - 8 * UInt32(i))) }
    r.setCdb(cdb)
    r.direction = write ? .dataOut : .dataIn
    r.dataTransferLength = blocks * UInt32(blockSize)
  }
}
