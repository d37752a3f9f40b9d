import CStorportMiniport
import Storport
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// Every exported StorPort routine, and the Ke / Mm / Dbg / Interlocked routines, as
/// storport_host.h numbers them.
extension CHost {
  static func routine(_ id: UInt32, _ extPointer: UnsafeMutableRawPointer?, _ w: UnsafePointer<UInt64>)
    -> UInt64
  {
    switch StorportRoutine(rawValue: id) {
    case StorportRoutineMemoryAccess:
      if !sawInstrumentation.load(ordering: .relaxed) { sawInstrumentation.store(true, ordering: .relaxed) }
      ExternalMemory.access(address: UInt(w[0]), isWrite: w[2] != 0) {
        location(address: UInt(w[0]), size: w[1], pc: w[3])
      }
      return 0
    case StorportRoutineMemoryRange:
      memoryRange(address: UInt(w[0]), bytes: w[1], isWrite: w[2] != 0, pc: w[3])
      return 0
    case StorportRoutineInterlocked:
      // w[2]: 0 a read (acquires only), 1 a read-modify-write or a fence (acquires and releases).
      ExternalMemory.interlocked(address: UInt(w[0]), readOnly: w[2] == 0)
      return 0
    case StorportRoutineInitialize:
      return UInt64(CMiniportLibrary.register(hwInitializationData: pointer(w[2]), hwContext: pointer(w[3])))
    case StorportRoutineStallExecution:
      if let port = StorPort.current {
        port.stallExecution(microseconds: UInt32(truncatingIfNeeded: w[0]))
      } else {
        usleep(UInt32(truncatingIfNeeded: w[0]))
      }
      return 0
    case StorportRoutineDebugPrint:
      if let text = pointer(w[1]) {
        var s = String(cString: text.assumingMemoryBound(to: CChar.self))
        while s.last == "\n" { s.removeLast() }
        note(s)
      }
      return 0
    case StorportRoutineAssertFailed:
      let expression = pointer(w[0]).map { String(cString: $0.assumingMemoryBound(to: CChar.self)) } ?? "?"
      let file = pointer(w[1]).map { String(cString: $0.assumingMemoryBound(to: CChar.self)) } ?? "?"
      let message = "ASSERT(\(expression)) failed at \(file):\(w[2])"
      if let port = StorPort.current {
        port.reportMiniportAssertion(message)
      } else if !CMiniportLibrary.recordLoadProblem("MINIPORT_ASSERTION_FAILED: " + message) {
        note(message)
      }
      return 0
    case StorportRoutineCurrentIrql:
      return UInt64(StorPort.currentIrql?.rawValue ?? 0)
    case StorportRoutineCurrentProcessor:
      return UInt64(StorPort.currentProcessor ?? 0)
    case StorportRoutineProcessorCount:
      return UInt64(StorPort.current?.processorCount ?? 1)
    case StorportRoutineQuerySystemTime:
      // 100 ns units since 1601-01-01 (the Windows epoch), from the platform's clock.
      var ts = timespec()
      clock_gettime(CLOCK_REALTIME, &ts)
      return UInt64(ts.tv_sec) &* 10_000_000 &+ UInt64(ts.tv_nsec / 100) &+ 116_444_736_000_000_000
    case StorportRoutineGetPhysicalAddress:
      // Identity mapping: the device model reads host memory at the address it is given.
      if w[2] != 0, let ext = CMiniportExtension.from(extPointer),
        let lengthOut = ext.output(w[2], 4, "StorPortGetPhysicalAddress's Length")
      {
        lengthOut.storeBytes(of: ext.contiguousLength(pointer(w[1])), as: UInt32.self)
      }
      return w[1]
    case StorportRoutineGetVirtualAddress:
      return w[0]
    default:
      break
    }
    guard let ext = extensionNamed(extPointer, routineName(id)) else { return 0 }
    return ext.routine(id, w)
  }

  /// Whether compiler instrumentation (a miniport built with `-fsanitize=thread`) has reported
  /// a plain access in this process.
  static let sawInstrumentation = Atomic<Bool>(false)

  static func routineName(_ id: UInt32) -> String {
    switch StorportRoutine(rawValue: id) {
    case StorportRoutineGetDeviceBase: return "StorPortGetDeviceBase"
    case StorportRoutineFreeDeviceBase: return "StorPortFreeDeviceBase"
    case StorportRoutineGetUncachedExtension: return "StorPortGetUncachedExtension"
    case StorportRoutineGetBusData: return "StorPortGetBusData"
    case StorportRoutineSetBusDataByOffset: return "StorPortSetBusDataByOffset"
    case StorportRoutineGetScatterGatherList: return "StorPortGetScatterGatherList"
    case StorportRoutineGetLogicalUnit: return "StorPortGetLogicalUnit"
    case StorportRoutineGetSrb: return "StorPortGetSrb"
    case StorportRoutineLogError: return "StorPortLogError"
    case StorportRoutineCompleteRequest: return "StorPortCompleteRequest"
    case StorportRoutineBusy: return "StorPortBusy"
    case StorportRoutineReady: return "StorPortReady"
    case StorportRoutinePause: return "StorPortPause"
    case StorportRoutineResume: return "StorPortResume"
    case StorportRoutineDeviceBusy: return "StorPortDeviceBusy"
    case StorportRoutineDeviceReady: return "StorPortDeviceReady"
    case StorportRoutineSynchronizeAccess: return "StorPortSynchronizeAccess"
    case StorportRoutineReadRegister: return "StorPortReadRegister"
    case StorportRoutineWriteRegister: return "StorPortWriteRegister"
    case StorportRoutineReadPort: return "StorPortReadPort"
    case StorportRoutineWritePort: return "StorPortWritePort"
    case StorportRoutineAcquireSpinLockEx: return "StorPortAcquireSpinLockEx"
    case StorportRoutineValidateRange: return "StorPortValidateRange"
    case StorportRoutineSetDeviceQueueDepth: return "StorPortSetDeviceQueueDepth"
    default: return "routine #\(id)"
    }
  }

  /// A memcpy / memset range: one access per 8-byte word it touches (at most 64 words — a
  /// bulk copy of a data buffer is not what races on miniport state look like).
  static func memoryRange(address: UInt, bytes: UInt64, isWrite: Bool, pc: UInt64) {
    guard bytes > 0, ExternalMemory.isObserved else { return }
    let first = address & ~7
    let last = (address &+ UInt(bytes) &- 1) & ~7
    var word = first
    var n = 0
    while word <= last && n < 64 {
      ExternalMemory.access(address: word, isWrite: isWrite) { location(address: word, size: 8, pc: pc) }
      word &+= 8
      n += 1
    }
  }

  /// The cell and machine location of an instrumented access ("module+0xoffset"; resolved to
  /// a source line only if a race is reported).
  static func location(address: UInt, size: UInt64, pc: UInt64) -> (cell: String, location: String) {
    let place = CMiniportExtension.describeAddress(address) ?? "0x" + String(address, radix: 16)
    return (cell: "\(place) (\(size) bytes)", location: CSymbolizer.shared.machineLocation(pc))
  }
}
