import CStorportShim

/// A value guarded by a spin lock from the C shim: for critical sections of a few
/// instructions that never block or call out (a processor's work queues, a STOR_DPC's state
/// machine). A hold costs one atomic exchange (the release is a plain store) where ``Locked``
/// costs two; a waiter spins, yielding the core now and then, instead of sleeping — so never
/// hold it across anything that can wait.
///
/// Its atomics are compiled in the C shim, like ``Locked``'s, so ThreadSanitizer sees every
/// happens-before edge it makes. The word sits in its own cache line.
public final class SpinLocked<Value>: @unchecked Sendable {
  private let word = AlignedWords(count: 1)
  /// Guarded by `word`: exclusive by construction, not by Swift's dynamic checks.
  @exclusivity(unchecked) private var value: Value

  public init(_ value: Value) { self.value = value }

  /// Runs `body` (which must not block) with exclusive access to the value.
  @inline(__always)
  public func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
    storport_spin_lock(word[0])
    defer { storport_unlock(word[0]) }
    return try body(&value)
  }

  /// Runs `body` with exclusive access to the value, taking the lock only when `serial` is
  /// false. Pass `Platform.runsOneThreadAtATime` — and only for values that no thread outside
  /// the platform's (a progress reporter, say) ever reads.
  @inline(__always)
  func withLock<R>(unlessSerial serial: Bool, _ body: (inout Value) throws -> R) rethrows -> R {
    if serial { return try body(&value) }
    return try withLock(body)
  }
}

/// A fixed number of values, each guarded by its own spin lock (as ``SpinLocked``), in one
/// allocation: an index reaches a value with no object to retain — an array of ``SpinLocked``
/// costs a reference count per access, and an object every processor reaches is a count
/// every processor writes. Each value and each lock word sits in 128-byte lines of its own.
public final class SpinLockedArray<Value>: @unchecked Sendable {
  private let words: AlignedWords
  private let values: UnsafeMutableRawPointer
  private let stride: Int
  public let count: Int

  /// One slot per element of `initial`, holding it.
  public init(_ initial: [Value]) {
    count = initial.count
    words = AlignedWords(count: max(1, initial.count))
    stride = (MemoryLayout<Value>.stride + 127) & ~127
    values = .allocate(byteCount: max(1, initial.count) * stride, alignment: 128)
    for (i, v) in initial.enumerated() { (values + i * stride).initializeMemory(as: Value.self, to: v) }
  }

  deinit {
    for i in 0..<count { (values + i * stride).assumingMemoryBound(to: Value.self).deinitialize(count: 1) }
    values.deallocate()
  }

  /// Runs `body` (which must not block) with exclusive access to value `index` (0..<count).
  @inline(__always)
  public func withLock<R>(_ index: Int, _ body: (inout Value) throws -> R) rethrows -> R {
    precondition(index >= 0 && index < count, "bug in swift-storport: slot \(index) of \(count)")
    storport_spin_lock(words[index])
    defer { storport_unlock(words[index]) }
    return try body(&(values + index * stride).assumingMemoryBound(to: Value.self).pointee)
  }

  /// As ``withLock(_:_:)``, taking the lock only when `serial` is false (see
  /// ``SpinLocked/withLock(unlessSerial:_:)``).
  @inline(__always)
  func withLock<R>(_ index: Int, unlessSerial serial: Bool, _ body: (inout Value) throws -> R) rethrows -> R {
    if serial {
      precondition(index >= 0 && index < count, "bug in swift-storport: slot \(index) of \(count)")
      return try body(&(values + index * stride).assumingMemoryBound(to: Value.self).pointee)
    }
    return try withLock(index, body)
  }
}
