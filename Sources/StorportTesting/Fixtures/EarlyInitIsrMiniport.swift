import Storport

/// The isr-reacquires-interrupt-lock fixture: the ISR's first run does some late
/// initialisation and, to be "safe", takes the Interrupt lock around it — the lock the port
/// already holds for the ISR. Driver Verifier reports the re-acquire; it must never hang.
///
/// * ``RacyEarlyInitIsrMiniport`` acquires the Interrupt lock inside HwStorInterrupt.
/// * ``EarlyInitIsrMiniport`` relies on the lock the port holds.
public final class EarlyInitIsrExtension: DeviceExtension, @unchecked Sendable {
  /// Set by the first interrupt (the ISR is serialised by the Interrupt lock the port holds).
  public let initialized = InterlockedValue(0)
  public let interrupts = InterlockedValue(0)
  public required init() {}
}

/// What both twins share: nothing to initialise, every request completed in StartIo.
public protocol EarlyInitIsrDesign: FixtureMiniport where Extension == EarlyInitIsrExtension {}

extension EarlyInitIsrDesign {
  public func initialize(_ ext: EarlyInitIsrExtension) -> Bool { true }
  public func startIo(_ ext: EarlyInitIsrExtension, _ request: StorRequest) -> Bool {
    request.srbStatus = .success
    ext.port.requestComplete(request)
    return true
  }
}

public final class RacyEarlyInitIsrMiniport: EarlyInitIsrDesign, @unchecked Sendable {
  public typealias Extension = EarlyInitIsrExtension
  public let initializationData = MiniportInitializationData(name: "isr-reacquires-interrupt-lock")
  public init() {}
  public func interrupt(_ ext: EarlyInitIsrExtension) -> Bool {
    if ext.initialized.load() == 0 {
      // The bug: the port already holds the Interrupt lock for HwStorInterrupt.
      ext.port.withSpinLock(.interruptLock) { ext.initialized.exchange(1) }
    }
    ext.interrupts.increment()
    return true
  }
}

public final class EarlyInitIsrMiniport: EarlyInitIsrDesign, @unchecked Sendable {
  public typealias Extension = EarlyInitIsrExtension
  public let initializationData = MiniportInitializationData(name: "isr-reacquires-interrupt-lock-fixed")
  public init() {}
  public func interrupt(_ ext: EarlyInitIsrExtension) -> Bool {
    if ext.initialized.load() == 0 { ext.initialized.exchange(1) }
    ext.interrupts.increment()
    return true
  }
}
