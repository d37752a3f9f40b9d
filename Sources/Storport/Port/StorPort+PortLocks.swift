extension StorPort {
  /// Takes a free channel token, preferring the processor's own channel.
  func acquireChannel(on p: Processor) -> Int {
    let refs = locks.channelRefs
    let n = refs.count
    let preferred = p.index % n
    p.point(.lockAcquire)
    var attempt = 0
    while true {
      for k in 0..<n {
        let c = (preferred + k) % n
        let taken = refs[c]._withUnsafeGuaranteedRef { lock in
          guard lock.tryAcquire() else { return false }
          _ = p.noteAcquired(lock, byPort: true)
          return true
        }
        if taken { return c }
      }
      if attempt == 0 {
        p.noteContended()
        refs[preferred]._withUnsafeGuaranteedRef { $0.contentions.add(1, ordering: .relaxed) }
      }
      platform.wait(p.index, on: ObjectIdentifier(locks.channelWaitToken), attempt: attempt)
      attempt &+= 1
    }
  }

  /// Takes every channel token (HwStorResetBus: no StartIo may run, R-N11).
  func acquireAllChannels(on p: Processor) {
    for c in locks.channels {
      p.point(.lockAcquire)
      var attempt = 0
      while !c.tryAcquire() {
        if attempt == 0 {
          p.noteContended()
          c.contentions.add(1, ordering: .relaxed)
        }
        platform.wait(p.index, on: ObjectIdentifier(locks.channelWaitToken), attempt: attempt)
        attempt &+= 1
      }
      _ = p.noteAcquired(c, byPort: true)
    }
  }

  func releaseAllChannels(on p: Processor) {
    for c in locks.channels.reversed() { p.release(c) }
    platform.signal(ObjectIdentifier(locks.channelWaitToken))
  }

  /// Takes the Interrupt lock and, in per-message mode, every MSI message lock (R-L17, D4).
  /// The message locks are not recorded in the context: they stand behind the Interrupt lock.
  func acquireInterruptLock(on p: Processor, byPort: Bool) -> UInt64 {
    let serial = p.acquire(locks.interrupt, byPort: byPort)
    if configuration.interruptSynchronizationMode == .synchronizePerMessage {
      for m in locks.messageRefs { m._withUnsafeGuaranteedRef { p.acquireUnrecorded($0) } }
    }
    return serial
  }

  func releaseInterruptLock(on p: Processor) {
    if configuration.interruptSynchronizationMode == .synchronizePerMessage {
      for m in locks.messageRefs.reversed() { m._withUnsafeGuaranteedRef { p.releaseUnrecorded($0) } }
    }
    p.release(locks.interrupt)
  }
}
