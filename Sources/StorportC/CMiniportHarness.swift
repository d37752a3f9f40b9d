import CStorportMiniport
import Storport
import StorportExplorer
import StorportTesting

/// The harness `storport explore --miniport PATH.so` explores around any C miniport: the
/// adapter started; a handful of verified writes and reads; the miniport's timers left to tick;
/// for a physical miniport an interrupt storm; a bus reset; a stop and a restart; and verified
/// I/O again — each schedule on a fresh runtime, a fresh adapter and fresh hardware.
public enum CMiniportHarness {
  /// What the harness asks of the miniport.
  public enum Workload: String, Sendable, CaseIterable {
    /// The full round: verified WRITE(16)/READ(16), timer ticks, interrupts, bus reset, stop,
    /// restart, verified I/O again (for miniports that store data).
    case full
    /// Two requests without data, one after the other, while the miniport's timers tick (for
    /// fixtures that complete requests without storing anything).
    case requests
  }

  /// - Parameters:
  ///   - library: the loaded miniport.
  ///   - argumentString: its `ArgumentString` (DriverParameter).
  ///   - blockSize: the logical block size the I/O uses.
  ///   - makeDevice: the hardware of a physical miniport, fresh for each schedule (nil: virtual).
  ///   - ready: for miniports that finish starting after HwStorInitialize (an NVMe controller
  ///     brought up by the miniport's timer): true once it accepts I/O.
  public static func make(
    _ library: CMiniportLibrary, workload: Workload = .full, argumentString: String = "",
    blockSize: Int = 512,
    processors: Int = 2,
    makeDevice: (@Sendable (HarnessRun) -> CMiniportDevice?)? = nil,
    ready: (@Sendable (Adapter) -> Bool)? = nil
  ) -> ExplorationHarness {
    ExplorationHarness(
      name: library.name,
      summary:
        "\(library.name): verified writes and reads, timer ticks, interrupts, a bus reset, stop and restart",
      processors: processors
    ) { run in
      // Plain loads and stores of an instrumented miniport reach the race detector.
      storport_host_set_memory_hooks(1)
      let device = makeDevice?(run)
      if let device { run.keepAlive(device) }
      let adapter = run.attach(library.makeMiniport(argumentString: argumentString, device: device))
      if let device = device as? CMiniportDeviceWiring { device.connect(adapter) }
      guard run.startAdapter(adapter) else { return }
      if let ready {
        guard
          run.expect(
            run.run(until: { ready(adapter) }, limit: 100_000_000), "\(library.name) did not become ready")
        else { return }
      }
      if workload == .requests {
        for i in 0..<2 {
          run.submit(StorRequest(tag: UInt64(i)), to: adapter)
          run.expect(run.runUntilCompleted(limit: 1_000_000), "request \(i) did not complete")
        }
        _ = run.runUntilQuiescent(limit: 1_000_000)
        return
      }
      BuiltInHarnesses.blockIo(run, adapter, blockSize: blockSize)
      // Let the miniport's timers tick for a while (virtual time).
      _ = run.run(nanoseconds: 2_000_000)
      if device != nil {
        for _ in 0..<4 { adapter.device.raiseInterrupt() }
        _ = run.runUntilQuiescent(limit: 1_000_000)
      }
      adapter.resetBus()
      _ = run.runUntilQuiescent(limit: 10_000_000)
      adapter.stop()
      guard
        run.expect(
          run.run(until: { adapter.state == .stopped }, limit: 100_000_000),
          "\(library.name) did not stop (state \(adapter.state))")
      else { return }
      adapter.restart()
      run.run(until: { adapter.state != .starting }, limit: 100_000_000)
      guard run.expect(adapter.state == .running, "\(library.name) did not restart (state \(adapter.state))")
      else { return }
      if let ready {
        guard
          run.expect(
            run.run(until: { ready(adapter) }, limit: 100_000_000),
            "\(library.name) did not become ready after the restart")
        else { return }
      }
      BuiltInHarnesses.blockIo(run, adapter, blockSize: blockSize)
    }
  }
}

/// Hardware that must be wired to its adapter once attached (its interrupt lines).
public protocol CMiniportDeviceWiring: AnyObject {
  func connect(_ adapter: Adapter)
}
