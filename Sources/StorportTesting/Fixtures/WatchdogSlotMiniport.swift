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

/// Common set-up of both twins: a full-duplex physical adapter asking for two concurrent
/// StartIo channels, and a watchdog timer started in HwStorInitialize.
public protocol WatchdogSlotDesign: Miniport where Extension == WatchdogSlotExtension {
  /// The watchdog's period (µs).
  var periodMicroseconds: UInt32 { get }
  /// Ticks before the watchdog stops re-arming.
  var ticks: Int64 { get }
  var watchdog: HwTimer<WatchdogSlotExtension> { get }
}

extension WatchdogSlotDesign {
  public func findAdapter(_ ext: WatchdogSlotExtension, _ c: inout PortConfiguration) -> FindAdapterResult {
    c.synchronizationModel = .fullDuplex
    c.numberOfPhysicalBreaks = 32
    c.maximumTransferLength = 1 << 20
    return .found
  }

  public func initialize(_ ext: WatchdogSlotExtension) -> Bool {
    var perf = PerfConfigurationData()
    guard ext.port.initializePerfOpts(query: true, &perf) == .success,
      perf.flags.contains(.concurrentChannels)
    else { return false }
    var set = PerfConfigurationData()
    set.flags = [.concurrentChannels]
    set.concurrentChannels = 2
    guard ext.port.initializePerfOpts(query: false, &set) == .success else { return false }
    ext.ticksLeft.exchange(ticks)
    ext.port.requestTimerCall(watchdog, microseconds: periodMicroseconds)
    return true
  }

  /// Re-arms the watchdog while it has ticks left.
  func rearm(_ ext: WatchdogSlotExtension) {
    if ext.ticksLeft.decrement() > 0 {
      ext.port.requestTimerCall(watchdog, microseconds: periodMicroseconds)
    }
  }
}

/// The seeded bug (``WatchdogSlotExtension``): the slot is checked, then cleared, with no
/// synchronisation between HwStorStartIo and HwStorTimer.
public final class RacyWatchdogMiniport: WatchdogSlotDesign, @unchecked Sendable {
  public typealias Extension = WatchdogSlotExtension
  public let initializationData = MiniportInitializationData(name: "timer-startio-race")
  public let periodMicroseconds: UInt32
  public let ticks: Int64
  public private(set) var watchdog: HwTimer<WatchdogSlotExtension>

  public init(periodMicroseconds: UInt32 = 1, ticks: Int64 = 40) {
    self.periodMicroseconds = periodMicroseconds
    self.ticks = ticks
    watchdog = HwTimer("RacyWatchdogTimer") { _ in }
    watchdog = HwTimer("RacyWatchdogTimer") { [unowned self] ext in
      // A request still in the slot when the watchdog looks is declared timed out.
      if let stale = ext.outstanding.load() {
        ext.outstanding.store(nil)
        stale.srbStatus = .timeout
        ext.port.requestComplete(stale)
      }
      rearm(ext)
    }
  }

  public func startIo(_ ext: WatchdogSlotExtension, _ request: StorRequest) -> Bool {
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
  public typealias Extension = WatchdogSlotExtension
  public let initializationData = MiniportInitializationData(name: "timer-startio-race-fixed")
  public let periodMicroseconds: UInt32
  public let ticks: Int64
  public private(set) var watchdog: HwTimer<WatchdogSlotExtension>

  public init(periodMicroseconds: UInt32 = 1, ticks: Int64 = 40) {
    self.periodMicroseconds = periodMicroseconds
    self.ticks = ticks
    watchdog = HwTimer("WatchdogTimer") { _ in }
    watchdog = HwTimer("WatchdogTimer") { [unowned self] ext in
      let seen = ext.slot.load()
      if seen != 0, ext.slot.compareExchange(exchange: 0, comparand: seen) == seen {
        let stale = Self.request(seen)
        stale.srbStatus = .timeout
        ext.port.requestComplete(stale)
      }
      rearm(ext)
    }
  }

  public func startIo(_ ext: WatchdogSlotExtension, _ request: StorRequest) -> Bool {
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
