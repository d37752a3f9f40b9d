import CStorportMiniport
import Storport

/// The exported StorPort routines that name their adapter.
extension CMiniportExtension {
  func routine(_ id: UInt32, _ w: UnsafePointer<UInt64>) -> UInt64 {
    // The routine's name only when a report needs it.
    var name: String { CHost.routineName(id) }
    let port = self.port
    switch StorportRoutine(rawValue: id) {
    case StorportRoutineReadRegister, StorportRoutineReadPort:
      guard let device = miniport.device, let v = device.readRegister(at: UInt(w[0]), width: Int(w[1])) else {
        CHost.report(
          "\(name) at \(CHost.describe(CHost.pointer(w[0]))), which is not in a range StorPortGetDeviceBase mapped"
        )
        return ~0
      }
      return v
    case StorportRoutineWriteRegister, StorportRoutineWritePort:
      guard let device = miniport.device, device.writeRegister(at: UInt(w[0]), width: Int(w[1]), value: w[2])
      else {
        CHost.report(
          "\(name) at \(CHost.describe(CHost.pointer(w[0]))), which is not in a range StorPortGetDeviceBase mapped"
        )
        return 0
      }
      return 0
    case StorportRoutineGetDeviceBase:
      guard let device = miniport.device,
        let p = device.mapRange(address: w[2], bytes: Int(w[3]), inIoSpace: w[4] != 0)
      else {
        CHost.report(
          "StorPortGetDeviceBase of 0x\(String(w[2], radix: 16)) (\(w[3]) bytes), which no ACCESS_RANGE of this adapter holds"
        )
        return 0
      }
      return UInt64(UInt(bitPattern: p))
    case StorportRoutineFreeDeviceBase, StorportRoutineLogError:
      return 0
    case StorportRoutineValidateRange:
      return 1
    case StorportRoutineGetUncachedExtension:
      // Once per adapter, during HwStorFindAdapter; the same memory on later calls.
      if let u = uncachedExtension { return UInt64(UInt(bitPattern: u)) }
      guard let p = allocateMemory(w[1]) else { return 0 }  // NULL: the documented failure
      uncachedExtension = p
      return UInt64(UInt(bitPattern: p))
    case StorportRoutineGetBusData:
      guard w[0] == UInt64(PCIConfiguration.rawValue), let device = miniport.device else { return 0 }
      guard let buffer = output(w[3], Int(w[4]), name) else { return 0 }
      return UInt64(
        device.readConfiguration(
          offset: 0, into: UnsafeMutableRawBufferPointer(start: buffer, count: Int(w[4]))))
    case StorportRoutineSetBusDataByOffset:
      guard w[0] == UInt64(PCIConfiguration.rawValue), let device = miniport.device else { return 0 }
      guard let buffer = output(w[3], Int(w[5]), name) else { return 0 }
      return UInt64(
        device.writeConfiguration(
          offset: Int(w[4]), from: UnsafeRawBufferPointer(start: buffer, count: Int(w[5]))))
    case StorportRoutineGetScatterGatherList:
      guard let srb = CHost.pointer(w[0]), let list = srbPool?.scatterGatherList(srb: srb) else {
        CHost.report(
          "StorPortGetScatterGatherList with Srb \(CHost.describe(CHost.pointer(w[0]))), which is not a request block of this adapter"
        )
        return 0
      }
      return UInt64(UInt(bitPattern: list))
    case StorportRoutineGetLogicalUnit:
      return UInt64(UInt(bitPattern: logicalUnitExtension(path: w[0], target: w[1], lun: w[2])))
    case StorportRoutineGetSrb:
      return 0  // The documented answer when the port has no such request.
    case StorportRoutineCompleteRequest:
      port.completeRequest(
        pathId: UInt8(truncatingIfNeeded: w[0]), targetId: UInt8(truncatingIfNeeded: w[1]),
        lun: UInt8(truncatingIfNeeded: w[2]), srbStatus: SrbStatus(rawValue: UInt8(truncatingIfNeeded: w[3])))
      return 0
    case StorportRoutineBusy:
      return port.busy(requestsToComplete: UInt32(truncatingIfNeeded: w[0])) ? 1 : 0
    case StorportRoutineReady:
      return port.ready() ? 1 : 0
    case StorportRoutinePause:
      return port.pause(seconds: UInt32(truncatingIfNeeded: w[0])) ? 1 : 0
    case StorportRoutineResume:
      return port.resume() ? 1 : 0
    case StorportRoutineDeviceBusy, StorportRoutineDeviceReady:
      // Per-LU busy is not modelled (the port has adapter-wide busy only): FALSE, the
      // documented "not done"; requests the LU turns away come back with SRB_STATUS_BUSY.
      CHost.note("\(name): per-logical-unit busy is not modelled; returned FALSE")
      return 0
    case StorportRoutineSynchronizeAccess:
      guard w[0] != 0 else {
        CHost.report("StorPortSynchronizeAccess with a NULL SynchronizedAccessRoutine")
        return 0
      }
      guard isMiniportCode(w[0], "StorPortSynchronizeAccess's routine") else { return 0 }
      let routine = unsafeBitCast(UInt(w[0]), to: PSTOR_SYNCHRONIZED_ACCESS.self)
      let access = HwSynchronizedAccess<CMiniportExtension>(Self.routineName(w[0], "SynchronizedAccess")) {
        ext, context in routine(ext.base, UnsafeMutableRawPointer(bitPattern: context)) != 0
      }
      return port.synchronizeAccess(access, context: UInt(w[1])) ? 1 : 0
    case StorportRoutineSetDeviceQueueDepth:
      return port.setDeviceQueueDepth(
        pathId: UInt8(truncatingIfNeeded: w[0]), targetId: UInt8(truncatingIfNeeded: w[1]),
        lun: UInt8(truncatingIfNeeded: w[2]), depth: Int(w[3])) ? 1 : 0
    case StorportRoutineAcquireSpinLockEx:
      return UInt64(
        acquireSpinLock(kind: w[0], context: CHost.pointer(w[1]), handle: CHost.pointer(w[2]), extended: true)
          .rawValue)
    default:
      CHost.report("\(name) is not supported by this host")
      return 0
    }
  }

  /// The SpecificLuExtensionSize bytes of a logical unit (allocated on first ask; nil for a
  /// LUN outside the adapter's configuration or a miniport without LU extensions).
  func logicalUnitExtension(path: UInt64, target: UInt64, lun: UInt64) -> UnsafeMutableRawPointer? {
    let size = Int(miniport.data.SpecificLuExtensionSize)
    let c = portConfiguration
    guard size > 0, path < c.numberOfBuses, target < c.maximumNumberOfTargets,
      lun < c.maximumNumberOfLogicalUnits
    else { return nil }
    let key = UInt(path << 16 | target << 8 | lun)
    return luExtensions.withLock { table -> UnsafeMutableRawPointer? in
      if let p = table[key] { return p }
      let p = allocateMemory(UInt64(size))
      table[key] = p
      return p
    }
  }
}
