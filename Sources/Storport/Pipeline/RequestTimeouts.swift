import CStorportShim
import Synchronization

/// The port's per-request timeout (R-N11): each request in the miniport is counted in the
/// bucket of the second it times out in (O(1) per request, no per-request timer). A port timer,
/// armed only while requests are outstanding, looks at the buckets whose second has passed; if
/// any still counts a request, the port resets the bus: HwStorResetBus with the StartIo lock
/// and every channel held. What the miniport then hands back (SRB_STATUS_BUS_RESET) is retried.
final class RequestTimeouts: PlatformTimerTarget, @unchecked Sendable {
  /// The adapter owns this object and outlives it.
  unowned(unsafe) let adapter: StorPort
  static let buckets = 128
  /// The longest per-request timeout honoured, in seconds (longer ones are cut to it).
  static let maximumTimeoutSeconds: UInt64 = 60
  /// How many past seconds `check` looks at.
  static let lookBack = buckets / 2 - 1
  /// A deadline (at most `maximumTimeoutSeconds` ahead) and the window looked at (`lookBack`
  /// behind) must never share a bucket, or a live request would count as expired.
  static let bucketsCoverTheWindow: Void = precondition(
    Int(maximumTimeoutSeconds) + lookBack < buckets,
    "bug in swift-storport: request-timeout buckets alias (\(maximumTimeoutSeconds) + \(lookBack) ≥ \(buckets))"
  )
  /// One counter per bucket, in memory of their own (reaching a counter is an index, not a
  /// reference to retain).
  private let counts = AtomicCounters(count: RequestTimeouts.buckets)
  private let armed = Atomic<Bool>(false)
  private let inFlight = Atomic<Int>(0)
  /// Bus resets the timeout caused (statistics).
  let resets = Atomic<Int>(0)
  /// Second of the last reset: while expired requests remain, at most one reset a second.
  private let lastReset = Atomic<UInt64>(UInt64.max)

  init(adapter: StorPort) {
    self.adapter = adapter
    _ = Self.bucketsCoverTheWindow
  }

  private var nowSecond: UInt64 {
    Unmanaged.passUnretained(adapter)._withUnsafeGuaranteedRef {
      $0.platform.now().nanoseconds / 1_000_000_000
    }
  }

  func enter(_ r: StorRequest, defaultSeconds: UInt32) {
    let timeout = UInt64(r.timeoutSeconds == 0 ? defaultSeconds : r.timeoutSeconds)
    r.timeoutEpoch = nowSecond + min(max(timeout, 1), Self.maximumTimeoutSeconds)
    r.timeoutTracked = true
    storport_add64(counts[Int(r.timeoutEpoch % UInt64(Self.buckets))], 1)
    inFlight.add(1, ordering: .relaxed)
    // Read first: an exchange on every request would write a line all processors share.
    if !armed.load(ordering: .relaxed) && !armed.exchange(true, ordering: .acquiringAndReleasing) { arm() }
  }

  func leave(_ r: StorRequest) {
    guard r.timeoutTracked else { return }
    r.timeoutTracked = false
    let left = Int64(
      bitPattern: storport_add64(counts[Int(r.timeoutEpoch % UInt64(Self.buckets))], UInt64(bitPattern: -1)))
    assert(left >= 0, "bug in swift-storport: a request-timeout bucket went negative")
    inFlight.subtract(1, ordering: .relaxed)
  }

  private func arm() {
    let p = adapter.platform
    let next = (p.now().nanoseconds / 1_000_000_000 + 1) * 1_000_000_000
    p.arm(
      deadline: PlatformTime(nanoseconds: next), target: self, cookie: 0, processor: 0)
  }

  func fire(cookie: UInt64) {
    adapter.post(to: 0, .port { [self] in check() })
  }

  /// Buckets of seconds that have passed (a window behind now, wrapping) still count requests?
  private func check() {
    let now = nowSecond
    var expired = false
    for back in 1...UInt64(Self.lookBack) where now >= back {
      if storport_load64_relaxed(counts[Int((now - back) % UInt64(Self.buckets))]) != 0 {
        expired = true
        break
      }
    }
    if expired && adapter.state == .running && lastReset.load(ordering: .relaxed) != now {
      lastReset.store(now, ordering: .relaxed)
      resets.add(1, ordering: .relaxed)
      adapter.trace(on: Processor.current, .notification, "request timeout: HwStorResetBus")
      adapter.resetBus()
    }
    if inFlight.load(ordering: .relaxed) > 0 {
      arm()
    } else {
      armed.store(false, ordering: .releasing)
      if inFlight.load(ordering: .relaxed) > 0, !armed.exchange(true, ordering: .acquiringAndReleasing) {
        arm()
      }
    }
  }
}
