import CStorportMiniport
import Storport

#if canImport(Glibc)
  import Glibc
#endif

/// STOR_DPC, STOR_LOCK_HANDLE and the routines a C miniport hands over by address (timers,
/// passive initialisation): the port's objects behind the C structures.
extension CMiniportExtension {
  // MARK: - Routines by address

  /// The routine's symbol (`MyHwTimer`), or its address.
  static func routineName(_ address: UInt64, _ role: String) -> String {
    var symbol: UnsafePointer<CChar>? = nil
    if storport_symbol_of(UnsafeRawPointer(bitPattern: UInt(address)), &symbol, nil, nil) != 0, let symbol {
      return String(cString: symbol)
    }
    return "\(role)@0x" + String(address, radix: 16)
  }

  /// Whether `address` is code of this miniport's shared object (a routine handed to the port
  /// is called later, on a processor: a wild pointer would crash the host there). Reports
  /// INVALID_PARAMETER naming `role` when it is not.
  func isMiniportCode(_ address: UInt64, _ role: @autoclosure () -> String) -> Bool {
    var file: UnsafePointer<CChar>? = nil
    if storport_symbol_of(UnsafeRawPointer(bitPattern: UInt(address)), nil, &file, nil) != 0, let file,
      String(cString: file) == miniport.libraryPath
    {
      return true
    }
    CHost.report(
      "\(role()) 0x\(String(address, radix: 16)) is not code of \(miniport.initializationData.name) (\(file.map { String(cString: $0) } ?? "no loaded object"))"
    )
    return false
  }

  /// The HwStorTimer wrapper for the C routine at `address` (nil for NULL: the port reports it;
  /// nil after a report for an address that is not the miniport's code).
  func timer(_ address: UInt64) -> HwTimer<CMiniportExtension>? {
    guard address != 0 else { return nil }
    if let t = timers.withLock({ $0[UInt(address)] }) { return t }
    guard isMiniportCode(address, "StorPortNotification(RequestTimerCall)'s HwStorTimer") else { return nil }
    let routine = unsafeBitCast(UInt(address), to: PHW_TIMER.self)
    let made = HwTimer<CMiniportExtension>(Self.routineName(address, "HwStorTimer")) { ext in
      routine(ext.base)
    }
    // One wrapper per routine even when two processors arm it first at once.
    return timers.withLock { table in
      if let t = table[UInt(address)] { return t }
      table[UInt(address)] = made
      return made
    }
  }

  func passiveRoutine(_ address: UInt64) -> HwPassiveInitializeRoutine<CMiniportExtension>? {
    guard address != 0, isMiniportCode(address, "StorPortEnablePassiveInitialization's routine") else {
      return nil
    }
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
    guard
      let cDpc = output(UInt64(UInt(bitPattern: cDpc)), MemoryLayout<STOR_DPC>.size, "StorPortInitializeDpc")
    else { return }
    guard address != 0 else {
      CHost.report("StorPortInitializeDpc with a NULL HwDpcRoutine")
      return
    }
    guard isMiniportCode(address, "StorPortInitializeDpc's HwDpcRoutine") else { return }
    let object: StorDpc
    if let existing = dpcObject(cDpc, nil) {
      object = existing
    } else {
      guard
        let index = dpcAppend.withLock({ _ -> Int? in
          let n = dpcCount.load(ordering: .relaxed)
          guard n < Self.dpcCapacity else { return nil }
          dpcTable[n] = Unmanaged.passRetained(StorDpc())
          dpcCount.store(n + 1, ordering: .releasing)
          return n
        })
      else {
        CHost.report(
          "StorPortInitializeDpc: more than \(Self.dpcCapacity) STOR_DPCs initialised in one adapter")
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
      if cDpc.loadUnaligned(fromByteOffset: 16, as: UInt.self) == ~index,
        index < UInt(dpcCount.load(ordering: .acquiring)),
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
  /// host side, in the acquiring thread's (processor's) table under the C handle's address —
  /// nothing the miniport's memory holds is ever read back as a host object.
  func acquireSpinLock(
    kind raw: UInt64, context: UnsafeMutableRawPointer?, handle: UnsafeMutableRawPointer?, extended: Bool
  ) -> StorStatus {
    guard
      let handle = output(
        UInt64(UInt(bitPattern: handle)), MemoryLayout<STOR_LOCK_HANDLE>.size,
        "StorPortAcquireSpinLock's STOR_LOCK_HANDLE")
    else { return .invalidParameter }
    let kind =
      StorSpinLockKind(rawValue: UInt32(truncatingIfNeeded: raw)).flatMap { raw < 6 ? $0 : nil }
      ?? .invalidLock
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
    // Kept on the host side, in the acquiring thread's (processor's) table.
    _ = withUnsafeBytes(of: h) { storport_lock_slot_put(handle, $0.baseAddress!, $0.count) }
    return status
  }

  /// `StorPortReleaseSpinLock(HwDeviceExtension, LockHandle)`: the handle this processor's
  /// acquire filled at that address; any other reaches the port as a handle that holds nothing
  /// (RELEASE_OF_UNHELD_LOCK, rule 45).
  func releaseSpinLock(handle: UnsafeMutableRawPointer?) {
    guard
      let handle = output(
        UInt64(UInt(bitPattern: handle)), MemoryLayout<STOR_LOCK_HANDLE>.size,
        "StorPortReleaseSpinLock's STOR_LOCK_HANDLE")
    else { return }
    var h = StorLockHandle()
    _ = withUnsafeMutableBytes(of: &h) { storport_lock_slot_take(handle, $0.baseAddress!, $0.count) }
    port.releaseSpinLock(&h)
  }
}
