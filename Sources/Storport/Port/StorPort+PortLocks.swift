extension StorPort {
  /// Takes a free channel token, preferring the processor's own channel.
  func acquireChannel(on p: Processor) -> Int {
    let n = channelLocks.count
    let preferred = p.index % n
    p.point(.lockAcquire)
    while true {
      for k in 0..<n {
        let c = (preferred + k) % n
        if channelLocks[c].tryAcquire() {
          _ = p.noteAcquired(channelLocks[c], byPort: true)
          return c
        }
      }
      platform.wait(p.index, on: ObjectIdentifier(channelWaitToken))
    }
  }

  /// Takes every channel token (HwStorResetBus: no StartIo may run, R-N11).
  func acquireAllChannels(on p: Processor) {
    for c in channelLocks {
      p.point(.lockAcquire)
      while !c.tryAcquire() { platform.wait(p.index, on: ObjectIdentifier(channelWaitToken)) }
      _ = p.noteAcquired(c, byPort: true)
    }
  }

  func releaseAllChannels(on p: Processor) {
    for c in channelLocks.reversed() { p.release(c) }
    platform.signal(ObjectIdentifier(channelWaitToken))
  }

  /// Takes the Interrupt lock and, in per-message mode, every MSI message lock (R-L17, D4).
  /// The message locks are not recorded in the context: they stand behind the Interrupt lock.
  func acquireInterruptLock(on p: Processor, byPort: Bool) -> UInt64 {
    let serial = p.acquire(interruptLock, byPort: byPort)
    if configuration.interruptSynchronizationMode == .synchronizePerMessage {
      for m in messageLocks { p.acquireUnrecorded(m) }
    }
    return serial
  }

  func releaseInterruptLock(on p: Processor) {
    if configuration.interruptSynchronizationMode == .synchronizePerMessage {
      for m in messageLocks.reversed() { p.releaseUnrecorded(m) }
    }
    p.release(interruptLock)
  }
}
