/// Miniport state the explorer watches: a field of the device extension (an "outstanding
/// request" slot, a ring index, a flag) whose every read and write is a scheduling point on
/// the simulated platform — so the explorer can interleave other processors there — and,
/// when the runtime detects races, is checked against every other access for an ordering
/// that Storport's synchronisation provides (``RaceDetector``). A race report names both
/// accesses: callback, processor, IRQL, locks held and source location.
///
/// Use it for state that more than one callback touches; keep state one callback owns as
/// plain properties. The cell is memory-safe on the live platform (a small lock guards the
/// value), so a racy miniport is wrong, never undefined behaviour; use
/// ``InterlockedValue`` where the miniport means to synchronise without a lock.
///
///     final class Extension: DeviceExtension {
///       let outstanding = Tracked<StorRequest?>(nil, name: "outstanding")
///     }
///     // in HwStorStartIo:
///     ext.outstanding.store(request)
public final class Tracked<Value>: @unchecked Sendable {
  /// The name race reports give the cell.
  public let name: String
  private let storage: Locked<Value>

  /// - Parameters:
  ///   - initial: the value before any callback runs.
  ///   - name: the name reports use ("outstanding", "sqTail").
  public init(_ initial: Value, name: String) {
    self.name = name
    storage = Locked(initial)
  }

  /// Reads the value (a tracked read).
  public func load(fileID: StaticString = #fileID, line: UInt = #line) -> Value {
    note(isWrite: false, fileID, line)
    return storage.withLock { $0 }
  }

  /// Writes the value (a tracked write).
  public func store(_ value: Value, fileID: StaticString = #fileID, line: UInt = #line) {
    note(isWrite: true, fileID, line)
    storage.withLock { $0 = value }
  }

  /// Reads and writes the value in one access (a tracked write: it is not atomic with respect
  /// to the explorer's model of the miniport, exactly as `x = f(x)` is not in C).
  public func modify<R>(fileID: StaticString = #fileID, line: UInt = #line, _ body: (inout Value) -> R) -> R {
    note(isWrite: false, fileID, line)
    let snapshot = storage.withLock { $0 }
    var copy = snapshot
    let result = body(&copy)
    note(isWrite: true, fileID, line)
    storage.withLock { $0 = copy }
    return result
  }

  @inline(__always)
  private func note(isWrite: Bool, _ fileID: StaticString, _ line: UInt) {
    guard let current = Processor.currentUnretained else { return }
    current._withUnsafeGuaranteedRef { p in
      p.point(.stateAccess)
      p.noteTrackedAccess(
        cell: UInt(bitPattern: ObjectIdentifier(self)), name: name, isWrite: isWrite, fileID: fileID,
        line: line)
    }
  }
}
