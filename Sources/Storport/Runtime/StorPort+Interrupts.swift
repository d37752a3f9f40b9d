extension StorPort {
  /// Raises an interrupt, as the device would: line-based (`message` nil, HwStorInterrupt) or
  /// MSI-X message `message` (HwMSInterruptRoutine). Callable from any thread. Message `m`
  /// goes to processor `m % processors`, line interrupts to processor 0; it is delivered at
  /// DIRQL holding the Interrupt lock (or, per-message mode, only its message lock) (rules
  /// 50, 51), preempting lower-IRQL code on that processor at its next scheduling point.
  public func raiseInterrupt(message: UInt32? = nil) {
    let n = runtime.processors.count
    let target = message.map { Int($0) % n } ?? 0
    trace(on: Processor.current, .interruptRaise, message.map { "MSI\($0)" } ?? "line", a: UInt64(target))
    runtime.processors[target].post(.interrupt(self, message: message))
  }

  func deliverInterrupt(on p: Processor, message: UInt32?) {
    guard interruptsConnected.load(ordering: .acquiring), beginCallback() else {
      spuriousInterrupts.add(1, ordering: .relaxed)
      trace(on: p, .interruptSpurious, message.map { "MSI\($0)" } ?? "line")
      return
    }
    defer { endCallback() }
    let old = p.raise(to: .device)
    let perMessage =
      configuration.interruptSynchronizationMode == .synchronizePerMessage && message != nil
      && Int(message!) < messageLocks.count
    if perMessage {
      _ = p.acquire(messageLocks[Int(message!)], byPort: true)
    } else {
      _ = acquireInterruptLock(on: p, byPort: true)
    }
    trace(on: p, .interruptDeliver, message.map { "MSI\($0)" } ?? "line")
    let claimed: Bool
    if let message {
      claimed = p.invoke(self, .messageSignaledInterrupt, "HwMSInterruptRoutine", allowed: []) {
        entry.messageSignaledInterrupt(deviceExtension, message)
      }
    } else {
      claimed = p.invoke(self, .interrupt, "HwStorInterrupt", allowed: []) {
        entry.interrupt(deviceExtension)
      }
    }
    if !claimed { unclaimedInterrupts.add(1, ordering: .relaxed) }
    if perMessage {
      p.release(messageLocks[Int(message!)])
    } else {
      releaseInterruptLock(on: p)
    }
    p.lower(to: old)
  }
}
