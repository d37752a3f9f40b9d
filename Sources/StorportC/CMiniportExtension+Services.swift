import CStorportMiniport
import Storport

#if canImport(Glibc)
  import Glibc
#endif

/// The services a C miniport reaches through its `HwDeviceExtension`: completions, timers,
/// DPCs, spin locks, performance options, workers, extended timers, and the exported routines.
extension CMiniportExtension {
  // MARK: - Completion

  /// `StorPortNotification(RequestComplete, HwDeviceExtension, Srb)`. Of two completions of one
  /// submission, racing or not, exactly one is applied; the other reaches the port as a
  /// completion of a completed request (rule 72) — or, when the request has been submitted
  /// again since, is reported as one without touching the new submission.
  func complete(srb: UnsafeMutableRawPointer?) {
    guard let srb, let (request, submission, live) = srbPool?.request(ofSrb: srb) else {
      CHost.report(
        "StorPortNotification(RequestComplete) with Srb \(CHost.describe(srb)), which is not a request block the port gave this miniport"
      )
      return
    }
    if live && srbPool.claimCompletion(srb: srb, submission: submission) {
      srbPool.finish(srb: srb, request)
      port.requestComplete(request)
      return
    }
    if request.submissions == submission {
      port.requestComplete(request)  // the port's own rule 72
    } else {
      port.reportRequestCompletedTwice(
        "StorPortNotification(RequestComplete) of SRB \(CHost.describe(srb)) a second time, after its request was submitted again (the completion is dropped)"
      )
    }
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
    let made = HwTimer<CMiniportExtension>(Self.routineName(address, "HwStorTimer")) { ext in routine(ext.base) }
    // One wrapper per routine even when two processors arm it first at once.
    return timers.withLock { table in
      if let t = table[UInt(address)] { return t }
      table[UInt(address)] = made
      return made
    }
  }

  func passiveRoutine(_ address: UInt64) -> HwPassiveInitializeRoutine<CMiniportExtension>? {
    guard address != 0 else { return nil }
    let routine = unsafeBitCast(UInt(address), to: PHW_PASSIVE_INITIALIZE_ROUTINE.self)
    return HwPassiveInitializeRoutine(Self.routineName(address, "HwPassiveInitializeRoutine")) { ext in
      routine(ext.base) != 0
    }
  }

  // MARK: - DPCs

  /// Marks an initialised STOR_DPC structure: its first three words hold this magic, the
  /// object's index in `dpcTable` and the index's complement.
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
    if let existing = dpcObject(cDpc, nil) {
      object = existing
    } else {
      guard let index = dpcAppend.withLock({ _ -> Int? in
        let n = dpcCount.load(ordering: .relaxed)
        guard n < Self.dpcCapacity else { return nil }
        dpcTable[n] = Unmanaged.passRetained(StorDpc())
        dpcCount.store(n + 1, ordering: .releasing)
        return n
      }) else {
        CHost.report("StorPortInitializeDpc: more than \(Self.dpcCapacity) STOR_DPCs initialised in one adapter")
        return
      }
      object = dpcTable[index]!.takeUnretainedValue()
      cDpc.storeBytes(of: Self.dpcMagic, as: UInt.self)
      cDpc.storeBytes(of: UInt(index), toByteOffset: 8, as: UInt.self)
      cDpc.storeBytes(of: ~UInt(index), toByteOffset: 16, as: UInt.self)
    }
    let routine = unsafeBitCast(UInt(address), to: PHW_DPC_ROUTINE.self)
    let handle = UInt(bitPattern: cDpc)
    port.initializeDpc(
      object,
      HwDpcRoutine<CMiniportExtension>(Self.routineName(address, "HwStorDpcRoutine")) { _, ext, a1, a2 in
        routine(
          UnsafeMutablePointer(bitPattern: handle), ext.base, UnsafeMutableRawPointer(bitPattern: a1),
          UnsafeMutableRawPointer(bitPattern: a2))
        return true
      })
  }

  /// The StorDpc behind a C STOR_DPC. One never initialised is handed to the port as an
  /// uninitialised object, so its own rule (DPC_NOT_INITIALIZED) reports it. A pointer outside
  /// the extension and port memory is reported here (when `routine` names the caller) and
  /// gives nil.
  func dpcObject(_ cDpc: UnsafeMutableRawPointer?, _ routine: String?) -> StorDpc? {
    guard isWritable(cDpc, MemoryLayout<STOR_DPC>.size), let cDpc else {
      if let routine {
        CHost.report(
          "\(routine) with STOR_DPC \(CHost.describe(cDpc)), which is not in the device extension or memory the port allocated"
        )
      }
      return nil
    }
    if cDpc.loadUnaligned(as: UInt.self) == Self.dpcMagic {
      let index = cDpc.loadUnaligned(fromByteOffset: 8, as: UInt.self)
      if cDpc.loadUnaligned(fromByteOffset: 16, as: UInt.self) == ~index, index < UInt(dpcCount.load(ordering: .acquiring)),
        let object = dpcTable[Int(index)]
      {
        return object.takeUnretainedValue()
      }
    }
    return routine == nil ? nil : StorDpc()
  }

  // MARK: - Spin locks

  /// `StorPortAcquireSpinLock` / `StorPortAcquireSpinLockEx`. The C STOR_LOCK_HANDLE gets the
  /// lock type and the IRQL to restore (`Context.OldIrql`); the port's own handle stays on the
  /// host side, in the acquiring processor's table under the C handle's address — nothing the
  /// miniport's memory holds is ever read back as a host object.
  func acquireSpinLock(
    kind raw: UInt64, context: UnsafeMutableRawPointer?, handle: UnsafeMutableRawPointer?, extended: Bool
  ) -> StorStatus {
    guard let handle = output(UInt64(UInt(bitPattern: handle)), MemoryLayout<STOR_LOCK_HANDLE>.size, "StorPortAcquireSpinLock's STOR_LOCK_HANDLE")
    else { return .invalidParameter }
    let kind = StorSpinLockKind(rawValue: UInt32(truncatingIfNeeded: raw)).flatMap { raw < 6 ? $0 : nil } ?? .invalidLock
    let dpc: StorDpc? =
      (kind == .dpcLock || kind == .threadedDpcLock || kind == .dpcLevelLock) && context != nil
      ? dpcObject(context, "StorPortAcquireSpinLock(DpcLock)") : nil
    var h = StorLockHandle()
    let status: StorStatus
    if extended {
      status = port.acquireSpinLockEx(kind, context: dpc, &h)
    } else {
      port.acquireSpinLock(kind, context: dpc, &h)
      status = .success
    }
    var c = STOR_LOCK_HANDLE()
    c.Lock = STOR_SPINLOCK(rawValue: UInt32(truncatingIfNeeded: raw))
    c.Context.OldIrql = h.oldIrql.rawValue
    handle.storeBytes(of: c, as: STOR_LOCK_HANDLE.self)
    heldLocks.put(UInt(bitPattern: handle), h)
    return status
  }

  /// `StorPortReleaseSpinLock(HwDeviceExtension, LockHandle)`: the handle this processor's
  /// acquire filled at that address; any other reaches the port as a handle that holds nothing
  /// (RELEASE_OF_UNHELD_LOCK, rule 45).
  func releaseSpinLock(handle: UnsafeMutableRawPointer?) {
    guard let handle = output(UInt64(UInt(bitPattern: handle)), MemoryLayout<STOR_LOCK_HANDLE>.size, "StorPortReleaseSpinLock's STOR_LOCK_HANDLE")
    else { return }
    var h = heldLocks.take(UInt(bitPattern: handle)) ?? StorLockHandle()
    port.releaseSpinLock(&h)
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
    let c = out.loadUnaligned(as: PERF_CONFIGURATION_DATA.self)
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
      let (request, _, _) = srbPool?.request(ofSrb: srb)
    else {
      CHost.report("StorPortGetStartIoPerfParams with Srb \(CHost.describe(srb)) or a NULL parameter block")
      return .invalidParameter
    }
    var p = out.loadUnaligned(as: STARTIO_PERFORMANCE_PARAMETERS.self)
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
    guard t > Self.workerTag, t - Self.workerTag <= UInt(Int.max) else { return nil }
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
    guard t > Self.timerTag, t - Self.timerTag <= UInt(Int.max) else { return nil }
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
