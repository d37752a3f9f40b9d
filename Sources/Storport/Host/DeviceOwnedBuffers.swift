import Synchronization

/// The data buffers a device model is working on — fetched with a command and not yet given
/// back with its completion — so that the port can see a request completed while its device
/// will still read or DMA into its buffer (REQUEST_COMPLETED_WHILE_DEVICE_OWNS_IT).
///
/// A multiset of addresses in an open-addressing table (linear probing, backward-shift
/// deletion): a take, a give-back and a lookup cost a few dozen instructions, no allocation
/// once it has grown to the device's queue depth.
struct DeviceOwnedBuffers {
  private var keys: [UInt] = Array(repeating: 0, count: 64)
  private var counts: [Int32] = Array(repeating: 0, count: 64)
  private(set) var count = 0

  private var mask: Int { keys.count - 1 }

  @inline(__always)
  private func home(_ key: UInt) -> Int {
    // Parenthesised: in Swift `>>` binds tighter than `&*`.
    Int(truncatingIfNeeded: ((key >> 4) &* 0x9E37_79B9_7F4A_7C15) >> 40) & mask
  }

  private func find(_ key: UInt) -> Int? {
    var i = home(key)
    while keys[i] != 0 {
      if keys[i] == key { return i }
      i = (i + 1) & mask
    }
    return nil
  }

  func contains(_ address: UInt) -> Bool { address != 0 && find(address) != nil }

  mutating func take(_ address: UInt) {
    guard address != 0 else { return }
    if let i = find(address) {
      counts[i] += 1
      return
    }
    if (count + 1) * 2 > keys.count { grow() }
    var i = home(address)
    while keys[i] != 0 { i = (i + 1) & mask }
    keys[i] = address
    counts[i] = 1
    count += 1
  }

  /// Gives back one take of `address`; false if it was not taken.
  @discardableResult
  mutating func giveBack(_ address: UInt) -> Bool {
    guard address != 0, let i = find(address) else { return false }
    counts[i] -= 1
    if counts[i] > 0 { return true }
    remove(at: i)
    return true
  }

  mutating func removeAll() {
    for i in keys.indices {
      keys[i] = 0
      counts[i] = 0
    }
    count = 0
  }

  private mutating func remove(at slot: Int) {
    var hole = slot
    keys[hole] = 0
    counts[hole] = 0
    count -= 1
    var i = (hole + 1) & mask
    while keys[i] != 0 {
      let h = home(keys[i])
      // Move the entry back into the hole if its home is not in (hole, i] (cyclically).
      let between = hole <= i ? (h > hole && h <= i) : (h > hole || h <= i)
      if !between {
        keys[hole] = keys[i]
        counts[hole] = counts[i]
        keys[i] = 0
        counts[i] = 0
        hole = i
      }
      i = (i + 1) & mask
    }
  }

  private mutating func grow() {
    let old = zip(keys, counts).filter { $0.0 != 0 }
    keys = Array(repeating: 0, count: keys.count * 2)
    counts = Array(repeating: 0, count: keys.count)
    count = 0
    for (k, c) in old {
      var i = home(k)
      while keys[i] != 0 { i = (i + 1) & mask }
      keys[i] = k
      counts[i] = c
      count += 1
    }
  }
}

/// ``DeviceOwnedBuffers`` split into shards by address, each behind its own lock: a device
/// model takes and gives back a buffer on the processor that rings the doorbell and the port
/// looks it up on the processor that completes the request, so with one shard per address
/// range those processors seldom share a lock (one adapter-wide lock was a cache line every
/// I/O of every processor moved three times).
final class DeviceOwnedBufferTable: @unchecked Sendable {
  static let shardCount = 16
  private let shards = SpinLockedArray((0..<shardCount).map { _ in DeviceOwnedBuffers() })
  /// Set by the first take: until then (and always in unchecked mode) a completion looks nothing up.
  let inUse = Atomic<Bool>(false)

  /// The shard of `address`: the top bits of a Fibonacci hash of its bits above 16-byte
  /// alignment (parenthesised: in Swift `>>` binds tighter than `&*`).
  @inline(__always)
  static func shardIndex(_ address: UInt) -> Int {
    Int(truncatingIfNeeded: ((address >> 4) &* 0x9E37_79B9_7F4A_7C15) >> 60) & (shardCount - 1)
  }

  func take(_ address: UInt, serial: Bool) {
    shards.withLock(Self.shardIndex(address), unlessSerial: serial) { $0.take(address) }
    if !inUse.load(ordering: .relaxed) { inUse.store(true, ordering: .releasing) }
  }

  func giveBack(_ address: UInt, serial: Bool) {
    shards.withLock(Self.shardIndex(address), unlessSerial: serial) { _ = $0.giveBack(address) }
  }

  func contains(_ address: UInt, serial: Bool) -> Bool {
    guard inUse.load(ordering: .acquiring) else { return false }
    return shards.withLock(Self.shardIndex(address), unlessSerial: serial) { $0.contains(address) }
  }

  func removeAll(serial: Bool) {
    for i in 0..<shards.count { shards.withLock(i, unlessSerial: serial) { $0.removeAll() } }
  }
}
