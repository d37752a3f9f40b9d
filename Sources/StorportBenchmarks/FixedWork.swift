import Dispatch
import Storport
import StorportSamples
import StorportTesting

/// Fixed amounts of work for counting instructions (`scripts/instructions.sh` runs these under
/// `valgrind --tool=callgrind` for N and 2N operations and prints the slope): on one live
/// processor that parks at once when idle and a controlling thread that blocks on a
/// semaphore, so nothing spins and the count per operation is stable.
public enum FixedWork {
  /// What one operation is.
  public enum Operation: String, CaseIterable, Sendable {
    /// StorPortAcquireSpinLock(StartIoLock) + StorPortReleaseSpinLock from port work.
    case lock
    /// StorPortIssueDpc and the DPC routine's run (the routine re-issues itself).
    case dpc
  }

  /// Runs `count` operations (checked or unchecked verifier).
  public static func run(_ operation: Operation, count: Int, checked: Bool) {
    let runtime = StorportRuntime(
      platform: LivePlatform(processors: 1, idlePolicy: .spinThenPark(spinNanoseconds: 0)),
      verifier: checked ? .default : .unchecked, trace: .off)
    let m = ScriptedMiniport(name: "fixed-work")
    let done = DispatchSemaphore(value: 0)
    let remaining = InterlockedValue(Int64(count))
    let routine = HwDpcRoutine<ScriptedExtension>("FixedWorkDpc") { dpc, ext, _, _ in
      if remaining.decrement() > 0 {
        ext.port.issueDpc(dpc)
      } else {
        done.signal()
      }
      return true
    }
    m.onInitialize = { ext in
      ext.port.initializeDpc(ext.dpc, routine)
      return true
    }
    let adapter = runtime.attach(m)
    runtime.start()
    adapter.start()
    runtime.runUntil(timeoutNanoseconds: 10_000_000_000) { adapter.state == .running }
    let ext = adapter.deviceExtension(as: ScriptedExtension.self)
    switch operation {
    case .lock:
      adapter.runOnProcessor(0) {
        for _ in 0..<count {
          var handle = StorLockHandle()
          ext.port.acquireSpinLock(.startIoLock, &handle)
          ext.port.releaseSpinLock(&handle)
        }
        done.signal()
      }
    case .dpc:
      if count == 0 {
        done.signal()
      } else {
        adapter.runOnProcessor(0) { ext.port.issueDpc(ext.dpc) }
      }
    }
    done.wait()
    runtime.shutdown()
  }
}
