extension StorPort {
  /// "line", "MSI0" … "MSI63", interned once.
  static let messageNames: [TraceName] = (0..<64).map { TraceName("MSI\($0)") }
  static let lineName = TraceName("line")
  static let otherMessageName = TraceName("MSI")
  static func interruptName(_ message: UInt32?) -> TraceName {
    guard let m = message else { return lineName }
    return Int(m) < messageNames.count ? messageNames[Int(m)] : otherMessageName
  }

  /// Raises an interrupt, as the device would: line-based (`message` nil, HwStorInterrupt) or
  /// MSI-X message `message` (HwMSInterruptRoutine). Callable from any thread. Message `m`
  /// goes to processor `m % processors`, line interrupts to processor 0; it is delivered at
  /// DIRQL holding the Interrupt lock (or, per-message mode, only its message lock) (rules
  /// 50, 51), preempting lower-IRQL code on that processor at its next scheduling point.
  func raiseInterrupt(message: UInt32? = nil) {
    let n = processorCount
    var target = message.map { Int($0) % n } ?? 0
    if variesPlacements { target = platform.choose(.interruptProcessor, count: n, default: target) }
    Processor.withCurrent { p in
      trace(on: p, .interruptRaise, StorPort.interruptName(message), a: UInt64(target))
      if let p { p.raceDetector?.release(p.index, Self.interruptSyncObject(self, message)) }
    }
    post(.interrupt(Unmanaged.passUnretained(self), message: message), to: target)
  }

  /// The race detector's object for an interrupt line: raise → its ISR (one per message).
  static func interruptSyncObject(_ port: StorPort, _ message: UInt32?) -> SyncObject {
    SyncObject(port, tag: message.map { UInt8(truncatingIfNeeded: 2 &+ min($0, 250)) } ?? 1)
  }

  func deliverInterrupt(on p: Processor, message: UInt32?) {
    let name = StorPort.interruptName(message)
    let claimed: Bool? =
      lifecycle.interruptsConnected.load(ordering: .acquiring)
      ? call(
        message.map { .messageSignaledInterrupt($0) } ?? .interrupt,
        message == nil ? .hwStorInterrupt : .hwMSInterruptRoutine, on: p,
        admit: {
          p.raceDetector?.acquire(p.index, Self.interruptSyncObject(self, message))
          trace(on: p, .interruptDeliver, name)
          return true
        }
      ) {
        withExtension { ext in
          message.map { entry.messageSignaledInterrupt(ext, $0) } ?? entry.interrupt(ext)
        }
      } : nil
    guard let claimed else {
      counters.spuriousInterrupts.add(1, ordering: .relaxed)
      trace(on: p, .interruptSpurious, name)
      return
    }
    if !claimed { counters.unclaimedInterrupts.add(1, ordering: .relaxed) }
  }
}
