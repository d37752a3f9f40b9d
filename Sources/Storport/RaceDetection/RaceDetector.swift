/// One read or write of tracked miniport state, as a race report shows it.
public struct StateAccess: Sendable, Hashable, Codable, CustomStringConvertible {
  /// The cell's name (``Tracked/name``, or a C miniport's symbol).
  public let cell: String
  public let isWrite: Bool
  /// The simulated processor that made the access.
  public let processor: Int
  /// The miniport callback running there ("HwStorStartIo", "HwStorTimer", …).
  public let callback: String
  /// The virtual IRQL at the access.
  public let irql: String
  /// The Storport locks that context held (port-held ones marked "(port)").
  public let locksHeld: [String]
  /// Where in the miniport's source ("File.swift:42").
  public internal(set) var location: String
  /// The simulator's decision count when the access happened.
  public let step: UInt64

  public init(
    cell: String, isWrite: Bool, processor: Int, callback: String, irql: String, locksHeld: [String],
    location: String, step: UInt64
  ) {
    self.cell = cell
    self.isWrite = isWrite
    self.processor = processor
    self.callback = callback
    self.irql = irql
    self.locksHeld = locksHeld
    self.location = location
    self.step = step
  }

  public var description: String {
    let locks = locksHeld.isEmpty ? "no lock" : locksHeld.joined(separator: ", ")
    return "\(isWrite ? "write" : "read") of \(cell) at \(location) in \(callback) on processor \(processor) "
      + "at \(irql) holding \(locks) (step \(step))"
  }
}

/// Two accesses to the same tracked state, at least one a write, that no synchronisation
/// Storport provides orders: a data race.
public struct DataRace: Sendable, Hashable, Codable, CustomStringConvertible {
  /// The earlier access (in the run's order).
  public let first: StateAccess
  /// The later access, which found `first` unordered.
  public let second: StateAccess

  public var description: String {
    "data race on \(first.cell):\n  \(first)\n  \(second)\n  nothing orders them: no lock both hold, "
      + "no interlocked operation, DPC issue, timer arm, interrupt or request hand-off between them"
  }
}

/// A synchronisation object of the happens-before model: a spin lock, an interlocked
/// variable, a STOR_DPC, a timer, an interrupt line, a request. Identified by an address-like
/// number and a tag, so C miniports can feed the detector with their own addresses.
public struct SyncObject: Hashable, Sendable {
  public let id: UInt
  public let tag: UInt8
  public init(id: UInt, tag: UInt8 = 0) {
    self.id = id
    self.tag = tag
  }
  /// The object `o` itself (tag distinguishes several edges through one object).
  public init(_ o: AnyObject, tag: UInt8 = 0) {
    id = UInt(bitPattern: ObjectIdentifier(o))
    self.tag = tag
  }
}

/// Happens-before race detection over miniport state, with vector clocks (one component per
/// simulated processor): the edges are the synchronisation Storport provides — spin-lock
/// release → acquire (the port's own, held for the miniport, included), interlocked
/// operations, DPC issue → run, timer arm → fire, interrupt raise → ISR, request submit →
/// BuildIo/StartIo and completion → initiator. Program order on one processor is an edge.
///
/// Independent of Swift: cells and objects are numbers, accesses come with their description,
/// so compiler-instrumented C code can feed the same detector. Not thread-safe: it runs on the
/// simulated platform, which runs one thread at a time. The controlling thread (the harness:
/// the initiator that submits requests, the device that raises interrupts, the host that
/// starts and resets adapters) is one more component: it acquires what it observed — the
/// completions it saw, the adapter states it waited for — and everything it posts to a
/// processor is released to that processor. Its own accesses are not recorded.
///
/// Reports one race per pair of source locations (the first time it is seen).
public final class RaceDetector: @unchecked Sendable {
  public let processors: Int
  private var clocks: [[UInt32]]
  private var syncClocks: [SyncObject: [UInt32]] = [:]
  private struct Epoch {
    var processor: Int
    var clock: UInt32
    var access: StateAccess
  }
  private struct CellHistory {
    var lastWrite: Epoch?
    var reads: [Epoch] = []
  }
  private var cells: [UInt: CellHistory] = [:]
  private var seenPairs = Set<[String]>()
  /// Races found so far, in the order found.
  public private(set) var races: [DataRace] = []
  /// Tracked accesses checked so far.
  public private(set) var accesses = 0

  public init(processors: Int) {
    precondition(processors >= 1, "a race detector needs processors")
    self.processors = processors
    // Each processor (and the controller, the last component) starts at 1 in its own
    // component: 0 means "never synchronised with".
    clocks = (0...processors).map { p in (0...processors).map { $0 == p ? 1 : 0 } }
  }

  /// The controlling thread's component.
  public var controller: Int { processors }

  /// `p` releases `object` (a lock release, the issuing side of a hand-off).
  public func release(_ p: Int, _ object: SyncObject) {
    syncClocks[object, default: Array(repeating: 0, count: processors + 1)].join(clocks[p])
    clocks[p][p] &+= 1
  }

  /// `p` acquires `object` (a lock acquire, the receiving side of a hand-off).
  public func acquire(_ p: Int, _ object: SyncObject) {
    guard let c = syncClocks[object] else { return }
    clocks[p].join(c)
  }

  /// An interlocked (sequentially consistent) operation by `p` on `object`.
  public func acquireRelease(_ p: Int, _ object: SyncObject) {
    acquire(p, object)
    release(p, object)
  }

  /// Checks and records an access to `cell` by processor `p`.
  public func access(_ cell: UInt, isWrite: Bool, by p: Int, _ describe: () -> StateAccess) {
    accesses += 1
    let now = clocks[p]
    var history = cells[cell] ?? CellHistory()
    let access = describe()
    if let w = history.lastWrite, w.processor != p, w.clock > now[w.processor] {
      report(w.access, access)
    }
    if isWrite {
      for r in history.reads where r.processor != p && r.clock > now[r.processor] {
        report(r.access, access)
      }
      history.lastWrite = Epoch(processor: p, clock: now[p], access: access)
      history.reads.removeAll(keepingCapacity: true)
    } else {
      let e = Epoch(processor: p, clock: now[p], access: access)
      if let i = history.reads.firstIndex(where: { $0.processor == p }) {
        history.reads[i] = e
      } else {
        history.reads.append(e)
      }
    }
    cells[cell] = history
  }

  private func report(_ first: StateAccess, _ second: StateAccess) {
    let pair = [first.location, first.isWrite ? "w" : "r", second.location, second.isWrite ? "w" : "r"]
    guard seenPairs.insert(pair).inserted else { return }
    races.append(DataRace(first: Self.resolved(first), second: Self.resolved(second)))
  }

  /// Turns machine locations into source locations when a race is reported (not at every
  /// access): a C miniport's accesses arrive as "module+0xoffset"; the C interface installs a
  /// resolver that answers "file.c:42 (function)". Identity when none is installed.
  public static func installLocationResolver(_ resolve: @escaping @Sendable (String) -> String) {
    locationResolver.withLock { $0 = resolve }
  }
  private static let locationResolver = Locked<(@Sendable (String) -> String)?>(nil)

  private static func resolved(_ a: StateAccess) -> StateAccess {
    guard let resolve = locationResolver.withLock({ $0 }) else { return a }
    var copy = a
    copy.location = resolve(a.location)
    return copy
  }
}

extension Array where Element == UInt32 {
  /// Component-wise maximum (vector-clock join).
  @inline(__always)
  fileprivate mutating func join(_ other: [UInt32]) {
    for i in indices where other[i] > self[i] { self[i] = other[i] }
  }
}
