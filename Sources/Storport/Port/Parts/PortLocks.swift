/// The locks the port owns for one adapter (spec §1.2, §5): the StartIo lock, the Interrupt
/// lock, one lock per MSI message (InterruptSynchronizePerMessage), and one token per
/// concurrent StartIo channel (STOR_PERF_CONCURRENT_CHANNELS). The message locks and channels
/// are set while the adapter starts (FindAdapter, HwStorInitialize's perf options), before any
/// I/O, and read without a lock afterwards.
final class PortLocks: @unchecked Sendable {
  let startIo = SpinLock(kind: .startIoLock, name: "StartIoLock")
  let interrupt = SpinLock(kind: .interruptLock, name: "InterruptLock")
  /// The Interrupt lock's identity, compared on every lock release without a reference count.
  let interruptIdentifier: ObjectIdentifier
  /// One per MSI message (empty: none granted).
  @exclusivity(unchecked) var messages: [SpinLock] = [] {
    didSet {
      retired += oldValue
      messageRefs = messages.map { Unmanaged.passUnretained($0) }
    }
  }
  /// One per concurrent channel (empty or one: StartIo takes the StartIo lock).
  @exclusivity(unchecked) var channels: [SpinLock] = [] {
    didSet {
      retired += oldValue
      channelRefs = channels.map { Unmanaged.passUnretained($0) }
    }
  }
  /// `messages` and `channels` unretained (the arrays keep them alive): reading an element
  /// of these costs no reference count, where an element of an array of objects costs two
  /// (about 40 instructions) — and the hot paths read them on every request and interrupt.
  /// Locks replaced (a miniport that sets its perf options again, a restart with another
  /// message count) are kept in `retired` for the adapter's life, so a processor still holding
  /// an unretained reference to one never touches freed memory.
  @exclusivity(unchecked) private(set) var messageRefs: [Unmanaged<SpinLock>] = []
  @exclusivity(unchecked) private(set) var channelRefs: [Unmanaged<SpinLock>] = []
  private var retired: [SpinLock] = []
  /// What processors waiting for a channel block on (simulated platform).
  let channelWaitToken = ChannelWaitToken()

  init() { interruptIdentifier = ObjectIdentifier(interrupt) }
}
