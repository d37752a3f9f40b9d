import Storport
import StorportSamples
import StorportTesting
import Testing

/// Services real miniports rely on (issue 7 §3): work items, contiguous memory, bulk
/// StorPortCompleteRequest and HwStorUnitControl — each with its IRQL and context rules.
@Suite struct ServiceTests {
  // MARK: - Work items (StorPortInitializeWorker / QueueWorkItem / FreeWorker, HW_WORKITEM)

  @Test func workItemRunsAtPassiveWithoutLocksAndCanRequeueAndFreeItself() {
    let h = SimHarness()
    h.startAdapter()
    let runs = Observations<(ExecutionSnapshot, UInt)>()
    let statuses = Observations<StorStatus>()
    let worker = Box<StorWorkerHandle?>(nil)
    let item = HwWorkItem<ScriptedExtension>("Work") { ext, context, w in
      runs.append((ext.port.executionContext!, context))
      if runs.count == 1 {
        statuses.append(
          ext.port.queueWorkItem(
            HwWorkItem<ScriptedExtension>("Work2") { ext, c, _ in
              runs.append((ext.port.executionContext!, c))
            }, worker: w, context: 2))  // re-queued from its own callback: runs again
      }
    }
    h.onProcessor { [ext = h.ext] in
      statuses.append(ext.port.initializeWorker(&worker.value))
      statuses.append(ext.port.queueWorkItem(item, worker: worker.value, context: 1))
      statuses.append(ext.port.queueWorkItem(item, worker: worker.value, context: 9))  // already queued
    }
    h.run(ms: 1)
    #expect(statuses.all == [.success, .success, .busy, .success])
    #expect(runs.all.map(\.1) == [1, 2])
    for (snapshot, _) in runs.all {
      #expect(snapshot.irql == .passive && snapshot.locks.isEmpty && snapshot.role == .workItem)
    }
    // Free: twice is UNSUCCESSFUL; while queued is BUSY.
    let frees = Observations<StorStatus>()
    h.onProcessor { [ext = h.ext] in
      frees.append(ext.port.freeWorker(worker.value))
      frees.append(ext.port.freeWorker(worker.value))
      var second: StorWorkerHandle?
      _ = ext.port.initializeWorker(&second)
      _ = ext.port.queueWorkItem(item, worker: second, context: 3)
      frees.append(ext.port.freeWorker(second))
    }
    #expect(frees.all == [.success, .unsuccessful, .busy])
    #expect(h.rules().isEmpty)
  }

  @Test func workItemServicesAboveDispatchAreRefusedAndReported() {
    let h = SimHarness()
    h.startAdapter()
    let worker = Box<StorWorkerHandle?>(nil)
    h.onProcessor { [ext = h.ext] in _ = ext.port.initializeWorker(&worker.value) }
    let status = Box(StorStatus.success)
    let item = HwWorkItem<ScriptedExtension>("Never") { _, _, _ in }
    h.inIsr { ext in status.value = ext.port.queueWorkItem(item, worker: worker.value) }
    #expect(status.value == .invalidIrql)
    #expect(h.rules() == [.wrongIrqlForRoutine])
  }

  @Test func stoppedAdapterRefusesWorkItemsAndStopWaitsForARunningOne() {
    let h = SimHarness()
    h.startAdapter()
    let worker = Box<StorWorkerHandle?>(nil)
    let ended = Box<UInt64>(0)
    let item = HwWorkItem<ScriptedExtension>("Slow") { ext, _, _ in
      for _ in 0..<3 { ext.port.stallExecution(microseconds: 900) }
      ended.value = ext.port.executionContext!.time
    }
    h.onProcessor { [ext = h.ext] in
      _ = ext.port.initializeWorker(&worker.value)
      _ = ext.port.queueWorkItem(item, worker: worker.value)
    }
    h.adapter.stop()
    h.run(ms: 10)
    #expect(h.adapter.state == .stopped)
    let stopped = h.events(.lifecycle).first { $0.name == "stopped" }
    #expect(ended.value > 0 && (stopped?.time ?? 0) >= ended.value, "stop did not wait for the work item")
    let status = Box(StorStatus.success)
    h.adapter.runOnProcessor(0) { [ext = h.ext] in
      status.value = ext.port.queueWorkItem(item, worker: worker.value)
    }
    h.run(ms: 1)
    #expect(status.value == .invalidDeviceState)
    #expect(h.rules().isEmpty)
  }

  // MARK: - Contiguous memory

  @Test func contiguousMemoryIsAlignedHonoursBoundariesAndMayNotBeFreedFromAnIsr() {
    let h = SimHarness()
    h.startAdapter()
    let block = Box<UnsafeMutableRawPointer?>(nil)
    let statuses = Observations<StorStatus>()
    h.onProcessor { [ext = h.ext] in
      statuses.append(
        ext.port.allocateContiguousMemorySpecifyCacheNode(bytes: 8192, boundary: 65536, &block.value))
      var tooBig: UnsafeMutableRawPointer?
      statuses.append(
        ext.port.allocateContiguousMemorySpecifyCacheNode(bytes: 8192, boundary: 4096, &tooBig))
      statuses.append(
        ext.port.freeContiguousMemorySpecifyCache(UnsafeMutableRawPointer(bitPattern: 0x1000), bytes: 1))
    }
    #expect(statuses.all == [.success, .insufficientResources, .invalidParameter])
    let address = UInt(bitPattern: block.value)
    #expect(address != 0 && address % 4096 == 0)
    #expect(address / 65536 == (address + 8191) / 65536, "the block crosses a 64 KiB boundary")
    // Freeing from an ISR (DIRQL) is refused and reported; from a DPC it works.
    let isrStatus = Box(StorStatus.success)
    h.inIsr { ext in isrStatus.value = ext.port.freeContiguousMemorySpecifyCache(block.value, bytes: 8192) }
    #expect(isrStatus.value == .invalidIrql)
    let dpcStatus = Box(StorStatus.unsuccessful)
    h.inDpc { ext in dpcStatus.value = ext.port.freeContiguousMemorySpecifyCache(block.value, bytes: 8192) }
    #expect(dpcStatus.value == .success)
    #expect(h.rules() == [.wrongIrqlForRoutine])
  }

  // MARK: - StorPortCompleteRequest

  @Test func bulkCompleteRequestCompletesWhatTheMiniportHoldsForAnAddress() {
    let held = Observations<StorRequest>()
    let h = SimHarness { m in
      m.onStartIo = { _, r in
        held.append(r)
        return true
      }
    }
    h.startAdapter()
    let requests = (0..<3).map { i -> StorRequest in
      let r = StorRequest(tag: UInt64(i))
      r.lun = i == 2 ? 1 : 0
      return r
    }
    let done = Observations<(UInt64, SrbStatus)>()
    for r in requests { h.adapter.submit(r) { done.append(($0.tag, $0.srbStatus)) } }
    h.run(us: 100)
    #expect(held.count == 3)
    h.inDpc { ext in ext.port.completeRequest(pathId: 0, targetId: 0, lun: 0, srbStatus: .aborted) }
    #expect(Set(done.all.map(\.0)) == [0, 1] && done.all.allSatisfy { $0.1 == .aborted })
    h.inDpc { ext in ext.port.completeRequest(pathId: 0xFF, targetId: 0xFF, lun: 0xFF, srbStatus: .success) }
    #expect(done.count == 3 && requests[2].srbStatus == .success)
    // The miniport completing one of them again is a double completion.
    h.inDpc { ext in ext.port.requestComplete(requests[0]) }
    #expect(h.rules() == [.requestCompletedTwice])
    #expect(h.adapter.statistics.outstandingRequests == 0)
  }

  // MARK: - HwStorUnitControl

  @Test func unitControlIsSentAtPassiveOnlyForSupportedTypes() {
    let calls = Observations<(UnitControlType, ExecutionSnapshot, UInt8)>()
    let h = SimHarness { m in
      m.onUnitControl = { ext, t, p in
        calls.append((t, ext.port.executionContext!, p.lun))
        if t == .querySupportedUnitControlTypes {
          p.supported = [.querySupportedUnitControlTypes, .unitStart]
        }
        ext.port.withSpinLock(.startIoLock) {}  // may take port locks
        return .success
      }
    }
    h.startAdapter()
    let results = Observations<UnitControlStatus?>()
    h.adapter.unitControl(.unitStart, UnitControlParameters(lun: 3)) { results.append($0) }
    h.adapter.unitControl(.unitPower, UnitControlParameters(lun: 3)) { results.append($0) }
    h.run(ms: 1)
    #expect(results.all == [.success, nil])
    #expect(calls.all.map(\.0) == [.querySupportedUnitControlTypes, .unitStart])
    #expect(calls.all.last?.2 == 3)
    for (_, snapshot, _) in calls.all {
      #expect(snapshot.irql == .passive && snapshot.locks.isEmpty && snapshot.role == .unitControl)
    }
    #expect(h.rules().isEmpty)
  }
}
