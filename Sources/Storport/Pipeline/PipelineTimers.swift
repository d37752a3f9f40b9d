/// Ends a StorPortPause after its timeout (R-N10).
final class PauseTimeoutTarget: PlatformTimerTarget, @unchecked Sendable {
  /// The adapter owns this object and outlives it.
  unowned(unsafe) let adapter: StorPort
  init(adapter: StorPort) { self.adapter = adapter }
  func fire(cookie: UInt64) {
    adapter.post(
      to: 0,
      .port { [adapter] in
        let resumed = adapter.pipeline.flow.withLock { f -> Bool in
          guard f.paused, f.pauseGeneration == cookie else { return false }
          f.paused = false
          return true
        }
        if resumed {
          adapter.trace(on: Processor.current, .resume, "pause timeout")
          adapter.schedulePump(on: Processor.current)
        }
      })
  }
}

/// Delayed BUSY re-issues: platform timers whose cookies index pending work.
final class BusyRetryTarget: PlatformTimerTarget, @unchecked Sendable {
  /// The adapter owns this object and outlives it.
  unowned(unsafe) let adapter: StorPort
  private let pending = Locked<(next: UInt64, items: [UInt64: (Work, Int)])>((0, [:]))
  init(adapter: StorPort) { self.adapter = adapter }

  func schedule(_ work: Work, on cpu: Int, after ns: UInt64) {
    let key = pending.withLock { s -> UInt64 in
      s.next &+= 1
      s.items[s.next] = (work, cpu)
      return s.next
    }
    adapter.platform.arm(
      deadline: PlatformTime(nanoseconds: adapter.platform.now().nanoseconds &+ ns), target: self,
      cookie: key, processor: ProcessorIndex(rawValue: cpu))
  }

  func fire(cookie: UInt64) {
    guard let (work, cpu) = pending.withLock({ $0.items.removeValue(forKey: cookie) }) else { return }
    adapter.post(to: cpu, work)
  }
}
