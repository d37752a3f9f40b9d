import CStorportMiniport
import Storport
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// The device extension of a C miniport: the `DeviceExtensionSize` bytes its callbacks receive
/// as `HwDeviceExtension` (16-byte aligned, zeroed at first allocation, kept across stop and
/// restart, R-Y2), and what the port keeps beside them for this adapter — the STOR_DPC
/// objects behind the miniport's opaque STOR_DPC structures, the HW_TIMER routines it armed,
/// its request blocks and the memory it was given.
///
/// A routine entered with `HwDeviceExtension` finds its adapter through ``from(_:)`` without
/// reading the miniport's memory.
public final class CMiniportExtension: DeviceExtension, @unchecked Sendable {

  /// The extension the C code sees (nil until HwStorFindAdapter is about to run).
  // Set once (HwStorFindAdapter, before any other callback), read on every routine: no
  // dynamic exclusivity checks.
  @exclusivity(unchecked) public private(set) var base: UnsafeMutableRawPointer?
  /// `DeviceExtensionSize`.
  @exclusivity(unchecked) public private(set) var size = 0
  private var allocation: UnsafeMutableRawPointer?
  /// The miniport this extension belongs to (set before the first callback).
  @exclusivity(unchecked) nonisolated(unsafe) var miniport: CMiniport!
  /// The PORT_CONFIGURATION_INFORMATION given to HwStorFindAdapter (StorPortGetUncachedExtension
  /// takes it back).
  var configInfo: UnsafeMutablePointer<PORT_CONFIGURATION_INFORMATION>?
  /// STOR_DPC objects behind the miniport's initialised STOR_DPC structures, by index (kept for
  /// the adapter's life: a structure re-zeroed and re-initialised gets a new one). A structure
  /// holds its index, never a pointer, so a copied or stale structure can name at most an
  /// object of this table. Readers take no lock: `dpcCount` is published after the entry.
  static let dpcCapacity = 4096
  let dpcTable = UnsafeMutablePointer<Unmanaged<StorDpc>?>.allocate(capacity: dpcCapacity)
  let dpcCount = Atomic<Int>(0)
  let dpcAppend = Locked<Void>(())
  /// HW_TIMER / HW_TIMER_EX / passive-initialisation routines, one wrapper per C address.
  let timers = Locked<[UInt: HwTimer<CMiniportExtension>]>([:])
  let timersEx = Locked<[UInt: HwTimerEx<CMiniportExtension>]>([:])
  /// StorPortInitializeWorker / StorPortInitializeTimer handles, by token.
  let workers = HandleTokens<StorWorkerHandle>(tag: 0x5357_0000_0000)  // "SW"
  let timerHandles = HandleTokens<StorTimerHandle>(tag: 0x5354_0000_0000)  // "ST"
  /// StorPortGetUncachedExtension's memory (one per adapter).
  var uncachedExtension: UnsafeMutableRawPointer?
  /// StorPortGetLogicalUnit's SpecificLuExtensionSize blocks, by path/target/lun.
  let luExtensions = Locked<[UInt: UnsafeMutableRawPointer]>([:])
  /// The configuration HwStorFindAdapter reported.
  var portConfiguration = PortConfiguration()
  /// Request blocks.
  @exclusivity(unchecked) var srbPool: RequestBlockPool!
  /// `PORT_CONFIGURATION_INFORMATION.HwMSInterruptRoutine`, as HwStorFindAdapter left it.
  @exclusivity(unchecked) var messageRoutine: PHW_MESSAGE_SIGNALED_INTERRUPT_ROUTINE?
  /// Memory handed to the miniport (uncached extension, pool, contiguous): freed at removal.
  let allocations = Locked<[UnsafeMutableRawPointer: Int]>([:])

  public required init() {}

  /// Allocates the extension's bytes on first use (zeroed) and links the header to `self`.
  func allocate(bytes: Int) {
    guard allocation == nil else { return }
    let total = max(bytes, 8)
    let raw = UnsafeMutableRawPointer.allocate(byteCount: total, alignment: 16)
    raw.initializeMemory(as: UInt8.self, repeating: 0, count: total)
    allocation = raw
    base = raw
    size = bytes
    Self.live.withLock {
      $0.append((UInt(bitPattern: raw), bytes, UInt(bitPattern: Unmanaged.passUnretained(self).toOpaque())))
    }
  }

  /// Every allocated extension: its bytes and its object.
  static let live = Locked<[(base: UInt, bytes: Int, owner: UInt)]>([])

  /// "HwDeviceExtension+0x18" for an address inside an extension, else nil.
  static func describeAddress(_ address: UInt) -> String? {
    live.withLock { list in
      for (b, n, _) in list where address >= b && address < b + UInt(n) {
        return "HwDeviceExtension+0x" + String(address - b, radix: 16)
      }
      return nil
    }
  }

  /// The extension whose bytes start at `pointer` (a C routine's `HwDeviceExtension`), or nil
  /// when `pointer` is not one the port gave out. Never dereferences an unknown pointer: a
  /// per-thread cache answers the common case (the extension of the callback running), the
  /// registry of live extensions the rest.
  @inline(__always)
  static func from(_ pointer: UnsafeMutableRawPointer?) -> CMiniportExtension? {
    guard let p = pointer else { return nil }
    let g = generation.load(ordering: .acquiring)
    if let owner = storport_extension_cache_get(p, g) {
      return Unmanaged<CMiniportExtension>.fromOpaque(owner).takeUnretainedValue()
    }
    let address = UInt(bitPattern: p)
    guard let owner = live.withLock({ list in list.first { $0.base == address }?.owner }) else { return nil }
    storport_extension_cache_set(p, UnsafeMutableRawPointer(bitPattern: owner), g)
    return Unmanaged<CMiniportExtension>.fromOpaque(UnsafeRawPointer(bitPattern: owner)!)
      .takeUnretainedValue()
  }

  /// Bumped whenever an extension is freed (invalidates the per-thread caches).
  static let generation = Atomic<UInt64>(1)

  /// `pointer` as an output of `routine` (`bytes` long), or nil after reporting an
  /// INVALID_PARAMETER when it is not memory the miniport may have the port write.
  func output(_ word: UInt64, _ bytes: Int, _ routine: @autoclosure () -> String) -> UnsafeMutableRawPointer?
  {
    let p = UnsafeMutableRawPointer(bitPattern: UInt(word))
    guard isWritable(p, bytes) else {
      CHost.report(
        "\(routine()) given \(CHost.describe(p)) for \(bytes) bytes, which is not in the device extension, memory the port allocated, or the caller's stack"
      )
      return nil
    }
    return p
  }

  /// Whether `bytes` at `pointer` are memory a miniport may hand to a routine to be written:
  /// this extension, memory the port allocated for it, or the calling thread's stack.
  func isWritable(_ pointer: UnsafeMutableRawPointer?, _ bytes: Int) -> Bool {
    guard let p = pointer else { return false }
    let a = UInt(bitPattern: p)
    if let b = base, a >= UInt(bitPattern: b), a + UInt(bytes) <= UInt(bitPattern: b) + UInt(max(size, 8)) {
      return true
    }
    if storport_on_current_stack(p, bytes) != 0 { return true }
    return allocations.withLock { all in
      all.contains { (q, n) in a >= UInt(bitPattern: q) && a + UInt(bytes) <= UInt(bitPattern: q) + UInt(n) }
    }
  }

  /// Memory for the miniport, zeroed, 4 KiB-aligned (uncached extension, pool, DMA memory);
  /// nil when the system has none that large (the routine then reports
  /// STOR_STATUS_INSUFFICIENT_RESOURCES — never a crash of the host).
  ///
  /// Pages come from an anonymous mapping, zero until first touched: a miniport asking for a
  /// large pool (a RAM disk) costs only what it writes.
  func allocateMemory(_ bytes: UInt64) -> UnsafeMutableRawPointer? {
    guard bytes <= 1 << 40 else { return nil }
    let n = (Int(max(bytes, 1)) + 4095) & ~4095
    guard let p = mmap(nil, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0),
      p != MAP_FAILED
    else { return nil }
    allocations.withLock { $0[p] = n }
    return p
  }

  /// Frees memory from ``allocateMemory(_:)``; false if `p` is not such memory.
  func freeMemory(_ p: UnsafeMutableRawPointer) -> Bool {
    guard let n = allocations.withLock({ $0.removeValue(forKey: p) }) else { return false }
    munmap(p, n)
    return true
  }

  deinit {
    if let base { Self.live.withLock { $0.removeAll { $0.base == UInt(bitPattern: base) } } }
    for i in 0..<dpcCount.load(ordering: .acquiring) { dpcTable[i]?.release() }
    dpcTable.deallocate()
    Self.generation.add(1, ordering: .releasing)
    allocation?.deallocate()
    configInfo?.deallocate()
    for (p, n) in allocations.withLock({ $0 }) { munmap(p, n) }
  }
}
