import CStorportMiniport
import Storport

/// StorPortExtendedFunction and its inline wrappers.
extension CHost {
  static func extended(_ code: UInt32, _ extPointer: UnsafeMutableRawPointer?, _ w: UnsafePointer<UInt64>)
    -> UInt32
  {
    // The routine's name only when a report needs it.
    var name: String { "StorPortExtendedFunction(\(extendedName(code)))" }
    guard let ext = extensionNamed(extPointer, name) else { return UInt32(STOR_STATUS_INVALID_PARAMETER) }
    let port = ext.port
    let status: StorStatus
    switch Int(code) {
    case Int(ExtFunctionAllocatePool.rawValue):
      guard let out = ext.output(w[2], 8, name) else { return UInt32(STOR_STATUS_INVALID_PARAMETER) }
      let memory = ext.allocateMemory(w[0])
      out.storeBytes(of: memory, as: UnsafeMutableRawPointer?.self)
      status = memory == nil ? .insufficientResources : .success
    case Int(ExtFunctionFreePool.rawValue):
      guard let p = pointer(w[0]), ext.freeMemory(p) else {
        report("StorPortFreePool of \(describe(pointer(w[0]))), which StorPortAllocatePool did not return")
        return UInt32(STOR_STATUS_INVALID_PARAMETER)
      }
      status = .success
    case Int(ExtFunctionGetSystemAddress.rawValue):
      guard let srb = pointer(w[0]), ext.srbPool?.request(ofSrb: srb) != nil,
        let out = ext.output(w[1], 8, name)
      else { return UInt32(STOR_STATUS_INVALID_PARAMETER) }
      out.storeBytes(
        of: storport_srb_data_buffer(srb, ext.srbPool.extended ? 1 : 0), as: UnsafeMutableRawPointer?.self)
      status = .success
    case Int(ExtFunctionAcquireMSISpinLock.rawValue):
      var old = Irql.passive
      status = port.acquireMSISpinLock(messageId: UInt32(truncatingIfNeeded: w[0]), oldIrql: &old)
      ext.output(w[1], 4, name)?.storeBytes(of: UInt32(old.rawValue), as: UInt32.self)
    case Int(ExtFunctionReleaseMSISpinLock.rawValue):
      status = port.releaseMSISpinLock(
        messageId: UInt32(truncatingIfNeeded: w[0]), oldIrql: Irql(rawValue: UInt8(truncatingIfNeeded: w[1])))
    case Int(ExtFunctionGetMessageInterruptInformation.rawValue):
      status = ext.messageInformation(UInt32(truncatingIfNeeded: w[0]), pointer(w[1]))
    case Int(ExtFunctionInitializePerformanceOptimizations.rawValue):
      status = ext.initializePerfOpts(query: w[0] != 0, pointer(w[1]))
    case Int(ExtFunctionGetStartIoPerformanceParameters.rawValue):
      status = ext.startIoPerfParams(srb: pointer(w[0]), pointer(w[1]))
    case Int(ExtFunctionGetCurrentProcessorNumber.rawValue):
      guard let out = ext.output(w[0], 4, name) else { return UInt32(STOR_STATUS_INVALID_PARAMETER) }
      var n = PROCESSOR_NUMBER()
      n.Number = UInt8(truncatingIfNeeded: StorPort.currentProcessor ?? 0)
      out.storeBytes(of: n, as: PROCESSOR_NUMBER.self)
      status = .success
    case Int(ExtFunctionGetActiveGroupCount.rawValue):
      ext.output(w[0], 2, name)?.storeBytes(of: UInt16(1), as: UInt16.self)
      status = .success
    case Int(ExtFunctionGetGroupAffinity.rawValue):
      guard w[0] == 0 else { return UInt32(STOR_STATUS_INVALID_PARAMETER) }
      ext.output(w[1], 8, name)?.storeBytes(of: ext.processorMask, as: UInt64.self)
      status = .success
    case Int(ExtFunctionGetActiveNodeCount.rawValue):
      ext.output(w[0], 4, name)?.storeBytes(of: UInt32(1), as: UInt32.self)
      status = .success
    case Int(ExtFunctionGetHighestNodeNumber.rawValue):
      ext.output(w[0], 4, name)?.storeBytes(of: UInt32(0), as: UInt32.self)
      status = .success
    case Int(ExtFunctionGetNodeAffinity.rawValue):
      guard w[0] == 0 else { return UInt32(STOR_STATUS_INVALID_PARAMETER) }
      var a = GROUP_AFFINITY()
      a.Mask = ext.processorMask
      ext.output(w[1], 16, name)?.storeBytes(of: a, as: GROUP_AFFINITY.self)
      status = .success
    case Int(ExtFunctionAllocateContiguousMemorySpecifyCacheNode.rawValue):
      var buffer: UnsafeMutableRawPointer? = nil
      let cache = cachingType(w[4])
      guard let bytes = Int(exactly: w[0]), bytes <= 1 << 40 else {
        ext.output(w[6], 8, name)?.storeBytes(of: nil, as: UnsafeMutableRawPointer?.self)
        return StorStatus.insufficientResources.rawValue
      }
      status = port.allocateContiguousMemorySpecifyCacheNode(
        bytes: bytes, lowest: w[1], highest: w[2], boundary: w[3], cacheType: cache,
        preferredNode: UInt32(truncatingIfNeeded: w[5]), &buffer)
      if let buffer { buffer.initializeMemory(as: UInt8.self, repeating: 0, count: bytes) }
      ext.output(w[6], 8, name)?.storeBytes(of: buffer, as: UnsafeMutableRawPointer?.self)
    case Int(ExtFunctionFreeContiguousMemorySpecifyCache.rawValue):
      let cache = cachingType(w[2])
      guard let bytes = Int(exactly: w[1]) else { return StorStatus.invalidParameter.rawValue }
      status = port.freeContiguousMemorySpecifyCache(pointer(w[0]), bytes: bytes, cacheType: cache)
    case Int(ExtFunctionInitializeWorker.rawValue):
      status = ext.initializeWorker(pointer(w[0]))
    case Int(ExtFunctionQueueWorkItem.rawValue):
      status = ext.queueWorkItem(routine: w[0], worker: pointer(w[1]), context: UInt(w[2]))
    case Int(ExtFunctionFreeWorker.rawValue):
      status = ext.freeWorker(pointer(w[0]))
    case Int(ExtFunctionInitializeTimer.rawValue):
      status = ext.initializeTimer(pointer(w[0]))
    case Int(ExtFunctionRequestTimer.rawValue):
      status = ext.requestTimer(
        pointer(w[0]), routine: w[1], context: UInt(w[2]), microseconds: w[3], tolerableDelay: w[4])
    case Int(ExtFunctionFreeTimer.rawValue):
      status = ext.freeTimer(pointer(w[0]))
    case Int(ExtFunctionQueryPerformanceCounter.rawValue):
      let (counter, frequency) = port.queryPerformanceCounter()
      if w[0] != 0 { ext.output(w[0], 8, name)?.storeBytes(of: frequency, as: UInt64.self) }
      ext.output(w[1], 8, name)?.storeBytes(of: counter, as: UInt64.self)
      status = .success
    case Int(ExtFunctionLogSystemEvent.rawValue):
      note("StorPortLogSystemEvent")
      status = .success
    default:
      // Documented behaviour for a function the port does not provide.
      note("\(name): not implemented by this host (STOR_STATUS_NOT_IMPLEMENTED)")
      return UInt32(STOR_STATUS_NOT_IMPLEMENTED)
    }
    return status.rawValue
  }

  /// MEMORY_CACHING_TYPE: MmNonCached 0, MmCached 1, MmWriteCombined 2.
  static func cachingType(_ w: UInt64) -> MemoryCachingType {
    w == 1 ? .cached : w == 2 ? .writeCombined : .nonCached
  }

  static func extendedName(_ code: UInt32) -> String {
    "ExtFunction" + (extendedNames[Int(code)] ?? "#\(code)")
  }

  private static let extendedNames: [Int: String] = [
    0: "AllocatePool", 1: "FreePool", 5: "GetSystemAddress", 11: "AcquireMSISpinLock",
    12: "ReleaseMSISpinLock",
    13: "GetMessageInterruptInformation", 14: "InitializePerformanceOptimizations",
    15: "GetStartIoPerformanceParameters", 16: "LogSystemEvent", 17: "GetCurrentProcessorNumber",
    18: "GetActiveGroupCount", 19: "GetGroupAffinity", 20: "GetActiveNodeCount", 21: "GetNodeAffinity",
    22: "GetHighestNodeNumber", 24: "AllocateContiguousMemorySpecifyCacheNode",
    25: "FreeContiguousMemorySpecifyCache", 29: "InitializeWorker", 30: "QueueWorkItem", 31: "FreeWorker",
    32: "InitializeTimer", 33: "RequestTimer", 34: "FreeTimer", 47: "QueryPerformanceCounter",
  ]
}
