import CStorportShim
import Synchronization

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#endif

/// A value guarded by a spin lock: for critical sections of a few instructions that never
/// block or call out (a processor's work queues, a STOR_DPC's state machine, the request
/// pipeline's flow state). A hold costs one atomic exchange (the release is a plain store)
/// where ``Locked`` costs two; a waiter spins, then yields and sleeps briefly
/// (`storport_spin_lock`), instead of sleeping on a futex — so never hold it across anything
/// long.
///
/// The word is a Swift atomic in the object, padded off the header's and neighbours' cache
/// lines: the uncontended acquire and the release are inline, and ThreadSanitizer, which
/// instruments Swift atomics, sees every happens-before edge.
final class SpinLocked<Value>: @unchecked Sendable {
  private let paddingBefore = InlineArray<14, UInt64>(repeating: 0)
  /// 0 free, 1 held.
  private let word = Atomic<UInt32>(0)
  private let paddingAfter = InlineArray<15, UInt64>(repeating: 0)
  /// Guarded by `word`: exclusive by construction, not by Swift's dynamic checks.
  @exclusivity(unchecked) private var value: Value

  init(_ value: Value) { self.value = value }

  /// Runs `body` (which must not block) with exclusive access to the value.
  @inline(__always)
  func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
    if word.exchange(1, ordering: .acquiring) != 0 { waitForWord() }
    defer { word.store(0, ordering: .releasing) }
    return try body(&value)
  }

  /// Contended: about 128 pauses, then alternately a yield and a 2 µs sleep, as
  /// `storport_spin_lock` (the holder may be a descheduled thread).
  @inline(never)
  private func waitForWord() {
    var attempt = 0
    while word.load(ordering: .relaxed) != 0 || word.exchange(1, ordering: .acquiring) != 0 {
      if attempt < 128 {
        storport_cpu_relax()
      } else if attempt & 1 != 0 {
        sched_yield()
      } else {
        var pause = timespec(tv_sec: 0, tv_nsec: 2_000)
        nanosleep(&pause, nil)
      }
      attempt &+= 1
    }
  }
}

/// A fixed number of values, each guarded by its own spin lock (as ``SpinLocked``), in one
/// allocation: an index reaches a value with no object to retain — an array of lock objects
/// costs a reference count per access, and an object every processor reaches is a count every
/// processor writes. Each slot is its lock word and its value in 128-byte lines of their own
/// (a hold touches one line when the value is small).
public final class SpinLockedArray<Value>: @unchecked Sendable {
  @usableFromInline let base: UnsafeMutableRawPointer
  @usableFromInline let stride: Int
  @usableFromInline let valueOffset: Int
  public let count: Int

  /// One slot per element of `initial`, holding it.
  public init(_ initial: [Value]) {
    count = initial.count
    valueOffset = max(MemoryLayout<UInt32>.size, MemoryLayout<Value>.alignment)
    stride = (valueOffset + MemoryLayout<Value>.size + 127) & ~127
    base = .allocate(byteCount: max(1, count) * stride, alignment: 128)
    for (i, v) in initial.enumerated() {
      (base + i * stride).initializeMemory(as: UInt32.self, repeating: 0, count: 1)
      (base + i * stride + valueOffset).initializeMemory(as: Value.self, to: v)
    }
  }

  deinit {
    for i in 0..<count { value(i).deinitialize(count: 1) }
    base.deallocate()
  }

  @inlinable @inline(__always)
  func word(_ index: Int) -> UnsafeMutablePointer<UInt32> {
    precondition(index >= 0 && index < count, "bug in swift-storport: slot \(index) of \(count)")
    return (base + index * stride).assumingMemoryBound(to: UInt32.self)
  }

  @inlinable @inline(__always)
  func value(_ index: Int) -> UnsafeMutablePointer<Value> {
    precondition(index >= 0 && index < count, "bug in swift-storport: slot \(index) of \(count)")
    return (base + index * stride + valueOffset).assumingMemoryBound(to: Value.self)
  }

  /// Runs `body` (which must not block) with exclusive access to value `index` (0..<count).
  @inlinable @inline(__always)
  public func withLock<R>(_ index: Int, _ body: (inout Value) throws -> R) rethrows -> R {
    let w = word(index)
    storport_spin_lock(w)
    defer { storport_unlock(w) }
    return try body(&value(index).pointee)
  }

  /// As ``withLock(_:_:)``, taking the lock only when `serial` is false. Pass
  /// `Platform.runsOneThreadAtATime` — and only for values that no thread outside the
  /// platform's (a progress reporter, say) ever reads.
  @inline(__always)
  func withLock<R>(_ index: Int, unlessSerial serial: Bool, _ body: (inout Value) throws -> R) rethrows -> R {
    if serial { return try body(&value(index).pointee) }
    return try withLock(index, body)
  }
}
