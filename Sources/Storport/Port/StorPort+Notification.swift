extension StorPort {
  /// `StorPortNotification(NotificationType, HwDeviceExtension, …)`.
  public func notification(_ n: StorNotification) {
    switch n.kind {
    case .requestComplete(let r): requestComplete(r)
    case .nextRequest, .nextLuRequest:
      violation(
        .undocumentedNotification, on: Processor.current,
        "StorPortNotification(\(n.code == 1 ? "NextRequest" : "NextLuRequest")) is a SCSI Port notification; ignored"
      )
    case .resetDetected(let path):
      trace(on: Processor.current, .notification, "ResetDetected", a: UInt64(path))
    case .busChangeDetected(let path):
      trace(on: Processor.current, .notification, "BusChangeDetected", a: UInt64(path))
    case .requestTimerCall(let routine, let us): requestTimerCall(erased: routine, microseconds: us)
    case .queryTickCount(let out):
      let tick: UInt64
      switch runtime.timerResolution {
      case .host: tick = 15_625_000
      case .tick(let t): tick = t
      }
      out.pointee = platform.now().nanoseconds / tick
    case .linkDown:
      trace(on: Processor.current, .notification, "LinkDown")
      _ = pause(seconds: UInt32.max)
    case .linkUp:
      trace(on: Processor.current, .notification, "LinkUp")
      _ = resume()
    case .initializeDpc(_, let body): body(self)
    case .issueDpc(let dpc, let a1, let a2, let result):
      result.pointee = issueDpc(dpc, a1, a2)
    case .enablePassiveInitialization(let body, let result):
      result.pointee = body(self)
    }
  }

  /// `StorPortEnablePassiveInitialization(DeviceExtension, HwPassiveInitializeRoutine)`:
  /// true only when called from HwStorInitialize; elsewhere false with a diagnostic, and the
  /// routine never runs (rule 63).
  @discardableResult
  public func enablePassiveInitialization<E>(_ routine: HwPassiveInitializeRoutine<E>) -> Bool {
    guard let p = serviceContext("StorPortEnablePassiveInitialization") else { return false }
    guard matchesExtension(E.self, routine.name, on: p) else { return false }
    guard p.currentFrame?.role == .initialize else {
      violation(
        .enablePassiveOutsideInitialize, on: p,
        "StorPortEnablePassiveInitialization from \(p.callbackDescription); only HwStorInitialize may call it"
      )
      return false
    }
    lifecycle.passiveRoutine = (routine.name, routine.call)
    return true
  }

  /// `StorPortStallExecution(Delay)`: busy-waits `microseconds` (virtual time when simulated).
  public func stallExecution(microseconds: UInt32) {
    guard let p = serviceContext("StorPortStallExecution") else { return }
    if microseconds >= 1000 {
      violation(
        .stallTooLong, on: p,
        "StorPortStallExecution(\(microseconds) µs): the delay must be less than a full millisecond")
    }
    platform.stall(p.index, nanoseconds: UInt64(microseconds) * 1000)
    p.checkWatchdog()
  }
}
