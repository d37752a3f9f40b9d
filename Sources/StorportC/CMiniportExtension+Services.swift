import CStorportMiniport
import Storport

#if canImport(Glibc)
  import Glibc
#endif

/// The services a C miniport reaches through its `HwDeviceExtension`: completions, timers,
/// DPCs, spin locks, performance options, workers, extended timers, and the exported routines.
extension CMiniportExtension {
  // MARK: - Completion

  /// `StorPortNotification(RequestComplete, HwDeviceExtension, Srb)`.
  func complete(srb: UnsafeMutableRawPointer?) {
    guard let srb, let (request, live) = srbPool?.request(ofSrb: srb) else {
      CHost.report(
        "StorPortNotification(RequestComplete) with Srb \(CHost.describe(srb)), which is not a request block the port gave this miniport"
      )
      return
    }
    if live { srbPool.finish(srb: srb, request) }
    // A second completion reaches the port as one: rule 72 is the port's to report.
    port.requestComplete(request)
  }

  // MARK: - Routines by address

  /// The routine's symbol (`MyHwTimer`), or its address.
  static func routineName(_ address: UInt64, _ role: String) -> String {
    var symbol: UnsafePointer<CChar>? = nil
    if storport_symbol_of(UnsafeRawPointer(bitPattern: UInt(address)), &symbol, nil, nil) != 0, let symbol {
      return String(cString: symbol)
    }
    return "\(role)@0x" + String(address, radix: 16)
  }

  /// The HwStorTimer wrapper for the C routine at `address` (nil for NULL: the port reports it).
  func timer(_ address: UInt64) -> HwTimer<CMiniportExtension>? {
    guard address != 0 else { return nil }
    if let t = timers.withLock({ $0[UInt(address)] }) { return t }
    let routine = unsafeBitCast(UInt(address), to: PHW_TIMER.self)
    let t = HwTimer<CMiniportExtension>(Self.routineName(address, "HwStorTimer")) { ext in routine(ext.base) }
    timers.withLock { $0[UInt(address)] = t }
    return t
  }

  func passiveRoutine(_ address: UInt64) -> HwPassiveInitializeRoutine<CMiniportExtension>? {
    guard address != 0 else { return nil }
    let routine = unsafeBitCast(UInt(address), to: PHW_PASSIVE_INITIALIZE_ROUTINE.self)
    return HwPassiveInitializeRoutine(Self.routineName(address, "HwPassiveInitializeRoutine")) { ext in
      routine(ext.base) != 0
    }
  }

  // MARK: - DPCs

  /// Marks an initialised STOR_DPC structure: its first two words hold this magic and the
  /// StorDpc object. A structure the miniport never initialised (or zeroed since) lacks it.
  static let dpcMagic: UInt = 0x5350_4450_4349_4E49  // "SPDPCINI"

  /// `StorPortInitializeDpc(HwDeviceExtension, Dpc, HwDpcRoutine)`.
  func initializeDpc(_ cDpc: UnsafeMutableRawPointer?, routine address: UInt64) {
    guard let cDpc = output(UInt64(UInt(bitPattern: cDpc)), MemoryLayout<STOR_DPC>.size, "StorPortInitializeDpc")
    else { return }
    guard address != 0 else {
      CHost.report("StorPortInitializeDpc with a NULL HwDpcRoutine")
      return
    }
    let object: StorDpc
    if cDpc.load(as: UInt.self) == Self.dpcMagic, let existing = dpcObject(cDpc, nil) {
      object = existing
    } else {
      object = StorDpc()
      dpcObjects.withLock { $0.append(object) }
      let bits = UInt(bitPattern: Unmanaged.passUnretained(object).toOpaque())
      cDpc.storeBytes(of: Self.dpcMagic, as: UInt.self)
      cDpc.storeBytes(of: bits, toByteOffset: 8, as: UInt.self)
      cDpc.storeBytes(of: ~bits, toByteOffset: 16, as: UInt.self)
    }
    let routine = unsafeBitCast(UInt(address), to: PHW_DPC_ROUTINE.self)
    let handle = UInt(bitPattern: cDpc)
    port.initializeDpc(
      object,
      HwDpcRoutine<CMiniportExtension>(Self.routineName(address, "HwStorDpcRoutine")) { _, ext, a1, a2 in
        routine(
          UnsafeMutablePointer(bitPattern: handle), ext.base, UnsafeMutableRawPointer(bitPattern: a1), UnsafeMutableRawPointer(bitPattern: a2))
        return true
      })
  }

  /// The StorDpc behind a C STOR_DPC. One never initialised is handed to the port as an
  /// uninitialised object, so its own rule (DPC_NOT_INITIALIZED) reports it. NULL is reported
  /// here (when `routine` names the caller) and gives nil.
  func dpcObject(_ cDpc: UnsafeMutableRawPointer?, _ routine: String?) -> StorDpc? {
    guard isWritable(cDpc, MemoryLayout<STOR_DPC>.size), let cDpc else {
      if let routine {
        CHost.report(
          "\(routine) with STOR_DPC \(CHost.describe(cDpc)), which is not in the device extension or memory the port allocated"
        )
      }
      return nil
    }
    // An initialised structure holds the magic, the object and its complement (objects live
    // as long as the extension: `dpcObjects` keeps them). A structure copied from another
    // adapter's extension names that adapter's object: the port's own check reports it.
    if cDpc.load(as: UInt.self) == Self.dpcMagic {
      let raw = cDpc.load(fromByteOffset: 8, as: UInt.self)
      if raw != 0, cDpc.load(fromByteOffset: 16, as: UInt.self) == ~raw {
        return Unmanaged<StorDpc>.fromOpaque(UnsafeRawPointer(bitPattern: raw)!).takeUnretainedValue()
      }
    }
    return routine == nil ? nil : StorDpc()
  }

  // MARK: - Spin locks

  /// `StorPortAcquireSpinLock` / `StorPortAcquireSpinLockEx`: the port's handle lives in the
  /// STOR_LOCK_HANDLE's Context (it is the port's to use), the lock type in `Lock`.
  func acquireSpinLock(
    kind raw: UInt64, context: UnsafeMutableRawPointer?, handle: UnsafeMutableRawPointer?, extended: Bool
  ) -> StorStatus {
    guard let handle = output(UInt64(UInt(bitPattern: handle)), 32, "StorPortAcquireSpinLock's STOR_LOCK_HANDLE")
    else { return .invalidParameter }
    let kind = StorSpinLockKind(rawValue: UInt32(truncatingIfNeeded: raw)).flatMap { raw < 6 ? $0 : nil } ?? .invalidLock
    let dpc: StorDpc? =
      (kind == .dpcLock || kind == .threadedDpcLock || kind == .dpcLevelLock) && context != nil
      ? dpcObject(context, "StorPortAcquireSpinLock(DpcLock)") : nil
    var h = StorLockHandle()
    // The port's handle lives in the C handle's 24-byte Context.
    precondition(MemoryLayout<StorLockHandle>.size <= 24, "bug in swift-storport: StorLockHandle outgrew STOR_LOCK_HANDLE")
    let status: StorStatus
    if extended {
      status = port.acquireSpinLockEx(kind, context: dpc, &h)
    } else {
      port.acquireSpinLock(kind, context: dpc, &h)
      status = .success
    }
    handle.storeBytes(of: UInt32(truncatingIfNeeded: raw), as: UInt32.self)
    (handle + 8).storeBytes(of: h, as: StorLockHandle.self)
    return status
  }

  /// `StorPortReleaseSpinLock(HwDeviceExtension, LockHandle)`.
  func releaseSpinLock(handle: UnsafeMutableRawPointer?) {
    guard let handle = output(UInt64(UInt(bitPattern: handle)), 32, "StorPortReleaseSpinLock's STOR_LOCK_HANDLE")
    else { return }
    var h = (handle + 8).load(as: StorLockHandle.self)
    port.releaseSpinLock(&h)
    (handle + 8).storeBytes(of: h, as: StorLockHandle.self)
  }

  // MARK: - Interrupts and performance options

  /// `StorPortGetMSIInfo`: the granted message's address and data (STOR_STATUS_INVALID_PARAMETER
  /// past the last one — how miniports count their messages).
  func messageInformation(_ id: UInt32, _ out: UnsafeMutableRawPointer?) -> StorStatus {
    guard let out = output(UInt64(UInt(bitPattern: out)), MemoryLayout<MESSAGE_INTERRUPT_INFORMATION>.size, "StorPortGetMSIInfo")
    else { return .invalidParameter }
    guard let device = miniport.device, id < device.messageCount else { return .invalidParameter }
    var info = MESSAGE_INTERRUPT_INFORMATION()
    info.MessageId = id
    info.MessageData = 0x4000 | id
    info.MessageAddress.QuadPart = 0xFEE0_0000
    info.InterruptVector = 0x60 + id
    info.InterruptLevel = 5
    info.InterruptMode = Latched
    out.storeBytes(of: info, as: MESSAGE_INTERRUPT_INFORMATION.self)
    return .success
  }

  /// `StorPortInitializePerfOpts(HwDeviceExtension, Query, PerfConfigData)`.
  func initializePerfOpts(query: Bool, _ out: UnsafeMutableRawPointer?) -> StorStatus {
    guard let out = output(UInt64(UInt(bitPattern: out)), MemoryLayout<PERF_CONFIGURATION_DATA>.size, "StorPortInitializePerfOpts")
    else { return .invalidParameter }
    let c = out.load(as: PERF_CONFIGURATION_DATA.self)
    var d = PerfConfigurationData()
    d.version = c.Version
    d.size = c.Size
    d.flags = StorPerfFlags(rawValue: c.Flags)
    d.concurrentChannels = c.ConcurrentChannels
    d.firstRedirectionMessageNumber = c.FirstRedirectionMessageNumber
    d.lastRedirectionMessageNumber = c.LastRedirectionMessageNumber
    d.deviceNode = c.DeviceNode
    let status = port.initializePerfOpts(query: query, &d)
    if query {
      var r = c
      r.Flags = d.flags.rawValue
      r.Version = d.version
      out.storeBytes(of: r, as: PERF_CONFIGURATION_DATA.self)
    }
    return status
  }

  /// `StorPortGetStartIoPerfParams(HwDeviceExtension, Srb, StartIoPerfParams)`.
  func startIoPerfParams(srb: UnsafeMutableRawPointer?, _ out: UnsafeMutableRawPointer?) -> StorStatus {
    guard let srb, isWritable(out, MemoryLayout<STARTIO_PERFORMANCE_PARAMETERS>.size), let out,
      let (request, _) = srbPool?.request(ofSrb: srb)
    else {
      CHost.report("StorPortGetStartIoPerfParams with Srb \(CHost.describe(srb)) or a NULL parameter block")
      return .invalidParameter
    }
    var p = out.load(as: STARTIO_PERFORMANCE_PARAMETERS.self)
    guard p.Size >= UInt32(MemoryLayout<STARTIO_PERFORMANCE_PARAMETERS>.size) else { return .invalidParameter }
    let params = port.getStartIoPerfParams(request)
    p.MessageNumber = params.messageNumber
    p.ChannelNumber = params.channelNumber
    out.storeBytes(of: p, as: STARTIO_PERFORMANCE_PARAMETERS.self)
    return .success
  }

  /// The adapter's processors as an affinity mask (group 0).
  var processorMask: UInt64 {
    let n = port.processorCount
    return n >= 64 ? ~0 : (UInt64(1) << UInt64(n)) &- 1
  }

  // MARK: - Workers and extended timers (opaque handles: tokens into per-adapter tables)

  static let workerTag: UInt = 0x5357_0000_0000  // "SW"
  static let timerTag: UInt = 0x5354_0000_0000  // "ST"

  func initializeWorker(_ out: UnsafeMutableRawPointer?) -> StorStatus {
    guard let out = output(UInt64(UInt(bitPattern: out)), 8, "StorPortInitializeWorker") else { return .invalidParameter }
    var h: StorWorkerHandle? = nil
    let status = port.initializeWorker(&h)
    guard let h else { return status }
    let token = workers.withLock { list -> UInt in
      list.append(h)
      return Self.workerTag + UInt(list.count)
    }
    out.storeBytes(of: token, as: UInt.self)
    return status
  }

  private func worker(_ token: UnsafeMutableRawPointer?) -> StorWorkerHandle? {
    let t = UInt(bitPattern: token)
    guard t > Self.workerTag else { return nil }
    return workers.withLock { list in
      let i = Int(t - Self.workerTag) - 1
      return i < list.count ? list[i] : nil
    }
  }

  func queueWorkItem(routine address: UInt64, worker token: UnsafeMutableRawPointer?, context: UInt) -> StorStatus {
    guard address != 0, let handle = worker(token) else { return .invalidParameter }
    let routine = unsafeBitCast(UInt(address), to: PHW_WORKITEM.self)
    let tokenBits = UInt(bitPattern: token)
    let item = HwWorkItem<CMiniportExtension>(Self.routineName(address, "HwWorkItem")) { ext, ctx, _ in
      routine(ext.base, UnsafeMutableRawPointer(bitPattern: ctx), UnsafeMutableRawPointer(bitPattern: tokenBits))
    }
    return port.queueWorkItem(item, worker: handle, context: context)
  }

  func freeWorker(_ token: UnsafeMutableRawPointer?) -> StorStatus {
    guard let handle = worker(token) else { return .invalidParameter }
    return port.freeWorker(handle)
  }

  func initializeTimer(_ out: UnsafeMutableRawPointer?) -> StorStatus {
    guard let out = output(UInt64(UInt(bitPattern: out)), 8, "StorPortInitializeTimer") else { return .invalidParameter }
    var h: StorTimerHandle? = nil
    let status = port.initializeTimer(&h)
    guard let h else { return status }
    let token = timerHandles.withLock { list -> UInt in
      list.append(h)
      return Self.timerTag + UInt(list.count)
    }
    out.storeBytes(of: token, as: UInt.self)
    return status
  }

  private func timerHandle(_ token: UnsafeMutableRawPointer?) -> StorTimerHandle? {
    let t = UInt(bitPattern: token)
    guard t > Self.timerTag else { return nil }
    return timerHandles.withLock { list in
      let i = Int(t - Self.timerTag) - 1
      return i < list.count ? list[i] : nil
    }
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
      let routine = unsafeBitCast(UInt(address), to: PHW_TIMER_EX.self)
      let t = HwTimerEx<CMiniportExtension>(Self.routineName(address, "HwStorTimerEx")) { ext, ctx in
        routine(ext.base, UnsafeMutableRawPointer(bitPattern: ctx))
      }
      timersEx.withLock { $0[UInt(address)] = t }
      callback = t
    }
    return port.requestTimer(
      timerHandle(token), callback, context: context, microseconds: microseconds, tolerableDelay: tolerableDelay)
  }

  func freeTimer(_ token: UnsafeMutableRawPointer?) -> StorStatus {
    port.freeTimer(timerHandle(token))
  }

  // MARK: - DMA

  /// Bytes physically contiguous from `address` within memory the port gave out (identity
  /// mapping: to the end of that allocation, or of the request's data buffer).
  func contiguousLength(_ address: UnsafeMutableRawPointer?) -> UInt32 {
    guard let a = address else { return 0 }
    let bytes = allocations.withLock { all -> Int? in
      for (p, n) in all where a >= p && a < p + n { return n - (a - p) }
      return nil
    }
    return UInt32(clamping: bytes ?? 4096 - (Int(bitPattern: UInt(bitPattern: a)) & 4095))
  }
}
