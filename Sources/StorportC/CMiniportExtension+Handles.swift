import CStorportMiniport
import Storport

#if canImport(Glibc)
  import Glibc
#endif

/// StorPortInitializeWorker / StorPortInitializeTimer handles: opaque tokens into per-adapter
/// tables (a C miniport's PVOID handles never point at host objects).
extension CMiniportExtension {
  // MARK: - Workers and extended timers (opaque handles: tokens into per-adapter tables)

  func initializeWorker(_ out: UnsafeMutableRawPointer?) -> StorStatus {
    guard let out = output(UInt64(UInt(bitPattern: out)), 8, "StorPortInitializeWorker") else {
      return .invalidParameter
    }
    var h: StorWorkerHandle? = nil
    let status = port.initializeWorker(&h)
    guard let h else { return status }
    out.storeBytes(of: workers.add(h), as: UInt.self)
    return status
  }

  func queueWorkItem(routine address: UInt64, worker token: UnsafeMutableRawPointer?, context: UInt)
    -> StorStatus
  {
    guard address != 0, let handle = workers.lookup(token) else { return .invalidParameter }
    guard isMiniportCode(address, "StorPortQueueWorkItem's HwWorkItem") else { return .invalidParameter }
    let routine = unsafeBitCast(UInt(address), to: PHW_WORKITEM.self)
    let tokenBits = UInt(bitPattern: token)
    let item = HwWorkItem<CMiniportExtension>(Self.routineName(address, "HwWorkItem")) { ext, ctx, _ in
      routine(
        ext.base, UnsafeMutableRawPointer(bitPattern: ctx), UnsafeMutableRawPointer(bitPattern: tokenBits))
    }
    return port.queueWorkItem(item, worker: handle, context: context)
  }

  func freeWorker(_ token: UnsafeMutableRawPointer?) -> StorStatus {
    guard let handle = workers.lookup(token) else { return .invalidParameter }
    return port.freeWorker(handle)
  }

  func initializeTimer(_ out: UnsafeMutableRawPointer?) -> StorStatus {
    guard let out = output(UInt64(UInt(bitPattern: out)), 8, "StorPortInitializeTimer") else {
      return .invalidParameter
    }
    var h: StorTimerHandle? = nil
    let status = port.initializeTimer(&h)
    guard let h else { return status }
    out.storeBytes(of: timerHandles.add(h), as: UInt.self)
    return status
  }

  func requestTimer(
    _ token: UnsafeMutableRawPointer?, routine address: UInt64, context: UInt, microseconds: UInt64,
    tolerableDelay: UInt64
  ) -> StorStatus {
    let callback: HwTimerEx<CMiniportExtension>?
    if address == 0 {
      callback = nil
    } else if let t = timersEx.withLock({ $0[UInt(address)] }) {
      callback = t
    } else {
      guard isMiniportCode(address, "StorPortRequestTimer's HwStorTimerEx") else { return .invalidParameter }
      let routine = unsafeBitCast(UInt(address), to: PHW_TIMER_EX.self)
      let made = HwTimerEx<CMiniportExtension>(Self.routineName(address, "HwStorTimerEx")) { ext, ctx in
        routine(ext.base, UnsafeMutableRawPointer(bitPattern: ctx))
      }
      callback = timersEx.withLock { table in
        if let t = table[UInt(address)] { return t }
        table[UInt(address)] = made
        return made
      }
    }
    return port.requestTimer(
      timerHandles.lookup(token), callback, context: context, microseconds: microseconds,
      tolerableDelay: tolerableDelay)
  }

  func freeTimer(_ token: UnsafeMutableRawPointer?) -> StorStatus {
    port.freeTimer(timerHandles.lookup(token))
  }
}
