import Storport

/// The HW_TIMER hazard as a driver writer meets it: a miniport with concurrent StartIo
/// channels (`PERF_CONFIGURATION_DATA`, STOR_PERF_CONCURRENT_CHANNELS) keeps the request in
/// flight in an "outstanding" slot and runs a watchdog HwStorTimer, re-armed from itself,
/// that completes whatever it finds there as timed out. With channels, StartIo is no longer
/// serialised with HwStorTimer (the HW_TIMER page: use an interlocked operation).
///
/// * ``RacyWatchdogMiniport`` shares the slot as plain state (``Tracked``): check, then act.
///   The watchdog and StartIo both see the request and both complete it (a double
///   completion, 0xF1/0x2004), and the slot is a data race.
/// * ``WatchdogSlotMiniport`` claims the slot with InterlockedCompareExchange: whoever swaps
///   the request out completes it, exactly once.
public final class WatchdogSlotExtension: DeviceExtension, @unchecked Sendable {
  /// The racy twin's slot: plain state the explorer watches.
  public let outstanding = Tracked<StorRequest?>(nil, name: "outstanding")
  /// The fixed twin's slot: the request's address, or 0.
  public let slot = InterlockedValue(0)
  /// Watchdog ticks left (the harness's run ends when they are used up).
  public let ticksLeft = InterlockedValue(0)
  public required init() {}
}

/// What both twins share: a full-duplex physical adapter asking for two concurrent StartIo
/// channels, and a watchdog HwStorTimer, started in HwStorInitialize and re-armed from itself
/// while it has ticks left. A twin supplies StartIo and what the watchdog does at each tick.
public class WatchdogSlotDesign: FixtureMiniport, @unchecked Sendable {
  public typealias Extension = WatchdogSlotExtension
  public let initializationData: MiniportInitializationData
  /// The watchdog's period (µs).
  public let periodMicroseconds: UInt32
  /// Ticks before the watchdog stops re-arming.
  public let ticks: Int64
  private var watchdog: HwTimer<WatchdogSlotExtension>!

  init(name: String, timerName: String, periodMicroseconds: UInt32, ticks: Int64) {
    initializationData = MiniportInitializationData(name: name)
    self.periodMicroseconds = periodMicroseconds
    self.ticks = ticks
    watchdog = HwTimer(timerName) { [unowned self] ext in
      tick(ext)
      if ext.ticksLeft.decrement() > 0 {
        ext.port.requestTimerCall(watchdog, microseconds: periodMicroseconds)
      }
    }
  }

  public func initialize(_ ext: WatchdogSlotExtension) -> Bool {
    guard ext.port.requestConcurrentChannels(2) else { return false }
    ext.ticksLeft.exchange(ticks)
    ext.port.requestTimerCall(watchdog, microseconds: periodMicroseconds)
    return true
  }

  /// One watchdog tick: what the twin's HwStorTimer does with the slot.
  func tick(_ ext: WatchdogSlotExtension) {}

  public func startIo(_ ext: WatchdogSlotExtension, _ request: StorRequest) -> Bool {
    preconditionFailure("bug in the fixture: a WatchdogSlotDesign twin must supply StartIo")
  }
}

/// The seeded bug (``WatchdogSlotExtension``): the slot is checked, then cleared, with no
/// synchronisation between HwStorStartIo and HwStorTimer.
public final class RacyWatchdogMiniport: WatchdogSlotDesign, @unchecked Sendable {
  public init(periodMicroseconds: UInt32 = 1, ticks: Int64 = 40) {
    super.init(
      name: "timer-startio-race", timerName: "RacyWatchdogTimer", periodMicroseconds: periodMicroseconds,
      ticks: ticks)
  }

  /// A request still in the slot when the watchdog looks is declared timed out.
  override func tick(_ ext: WatchdogSlotExtension) {
    if let stale = ext.outstanding.load() {
      ext.outstanding.store(nil)
      stale.srbStatus = .timeout
      ext.port.requestComplete(stale)
    }
  }

  public override func startIo(_ ext: WatchdogSlotExtension, _ request: StorRequest) -> Bool {
    ext.outstanding.store(request)
    // The device does the transfer (here: at once), then the normal path completes it.
    if let mine = ext.outstanding.load(), mine === request {
      ext.outstanding.store(nil)
      request.srbStatus = .success
      ext.port.requestComplete(request)
    }
    return true
  }
}

/// The fixed twin: the slot holds the request's address and is claimed with
/// InterlockedCompareExchange, so exactly one of StartIo and the watchdog completes it.
public final class WatchdogSlotMiniport: WatchdogSlotDesign, @unchecked Sendable {
  public init(periodMicroseconds: UInt32 = 1, ticks: Int64 = 40) {
    super.init(
      name: "timer-startio-race-fixed", timerName: "WatchdogTimer", periodMicroseconds: periodMicroseconds,
      ticks: ticks)
  }

  override func tick(_ ext: WatchdogSlotExtension) {
    let seen = ext.slot.load()
    if seen != 0, ext.slot.compareExchange(exchange: 0, comparand: seen) == seen {
      let stale = Self.request(seen)
      stale.srbStatus = .timeout
      ext.port.requestComplete(stale)
    }
  }

  public override func startIo(_ ext: WatchdogSlotExtension, _ request: StorRequest) -> Bool {
    let mine = Self.address(request)
    guard ext.slot.compareExchange(exchange: mine, comparand: 0) == 0 else {
      // Another channel's request is in flight: let the port retry this one.
      request.srbStatus = .busy
      ext.port.requestComplete(request)
      return true
    }
    if ext.slot.compareExchange(exchange: 0, comparand: mine) == mine {
      request.srbStatus = .success
      ext.port.requestComplete(request)
    }
    return true
  }

  /// The request's address as the slot holds it (the port keeps the request alive while the
  /// miniport owns it).
  static func address(_ r: StorRequest) -> Int64 {
    Int64(Int(bitPattern: Unmanaged.passUnretained(r).toOpaque()))
  }

  static func request(_ address: Int64) -> StorRequest {
    Unmanaged<StorRequest>.fromOpaque(UnsafeRawPointer(bitPattern: Int(address))!).takeUnretainedValue()
  }
}
