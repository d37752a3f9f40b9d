#if canImport(Glibc)
  import Glibc
#endif

/// `MEMORY_CACHING_TYPE` (only recorded: user-mode memory has one caching type).
public enum MemoryCachingType: Sendable { case nonCached, cached, writeCombined }

extension StorPort {
  /// `StorPortAllocateContiguousMemorySpecifyCacheNode(HwDeviceExtension, NumberOfBytes,
  /// LowestAcceptableAddress, HighestAcceptableAddress, BoundaryAddressMultiple, CacheType,
  /// PreferredNode, BufferPointer)`: `bytes` of page-aligned memory (user mode: the virtual
  /// address stands for the physical one) that does not cross a multiple of `boundary` (a power
  /// of two, 0 for none) and lies within [`lowest`, `highest`]. `preferredNode` is recorded,
  /// not honoured (one node). ≤ DISPATCH_LEVEL (above: INVALID_IRQL, a violation in checked
  /// mode); INSUFFICIENT_RESOURCES, with `buffer` nil, when no such memory can be had.
  public func allocateContiguousMemorySpecifyCacheNode(
    bytes: Int, lowest: UInt64 = 0, highest: UInt64 = .max, boundary: UInt64 = 0,
    cacheType: MemoryCachingType = .nonCached, preferredNode: UInt32 = 0,
    _ buffer: inout UnsafeMutableRawPointer?
  ) -> StorStatus {
    buffer = nil
    guard let p = serviceContext("StorPortAllocateContiguousMemorySpecifyCacheNode") else {
      return .invalidDeviceRequest
    }
    guard atMostDispatch("StorPortAllocateContiguousMemorySpecifyCacheNode", on: p) else {
      return .invalidIrql
    }
    guard bytes > 0, boundary == 0 || boundary & (boundary - 1) == 0 else { return .invalidParameter }
    guard boundary == 0 || UInt64(bytes) <= boundary else { return .insufficientResources }
    // Aligning to the boundary keeps the block inside one boundary multiple.
    let alignment = max(4096, Int(min(boundary, 1 << 30)))
    var raw: UnsafeMutableRawPointer? = nil
    guard posix_memalign(&raw, alignment, bytes) == 0, let block = raw else { return .insufficientResources }
    let address = UInt64(UInt(bitPattern: block))
    guard address >= lowest, address &+ UInt64(bytes) &- 1 <= highest else {
      free(block)
      return .insufficientResources
    }
    contiguousMemory.withLock { $0[UInt(bitPattern: block)] = bytes }
    buffer = block
    return .success
  }

  /// `StorPortFreeContiguousMemorySpecifyCache(HwDeviceExtension, BaseAddress, NumberOfBytes,
  /// CacheType)`: ≤ DISPATCH_LEVEL — freeing from an ISR is the deadlock Storport miniports
  /// have shipped (INVALID_IRQL, a violation in checked mode); INVALID_PARAMETER for memory this
  /// adapter did not allocate or a size that does not match.
  public func freeContiguousMemorySpecifyCache(
    _ buffer: UnsafeMutableRawPointer?, bytes: Int, cacheType: MemoryCachingType = .nonCached
  ) -> StorStatus {
    guard let p = serviceContext("StorPortFreeContiguousMemorySpecifyCache") else {
      return .invalidDeviceRequest
    }
    guard atMostDispatch("StorPortFreeContiguousMemorySpecifyCache", on: p) else { return .invalidIrql }
    guard let buffer else { return .invalidParameter }
    let known = contiguousMemory.withLock { m -> Bool in
      guard m[UInt(bitPattern: buffer)] == bytes else { return false }
      m[UInt(bitPattern: buffer)] = nil
      return true
    }
    guard known else { return .invalidParameter }
    free(buffer)
    return .success
  }

  /// Contiguous memory the miniport still holds (freed by the port when the adapter is removed).
  var contiguousBytesHeld: Int { contiguousMemory.withLock { $0.values.reduce(0, +) } }

  func releaseContiguousMemory() {
    let blocks = contiguousMemory.withLock { m -> [UInt] in
      defer { m.removeAll() }
      return Array(m.keys)
    }
    for b in blocks { free(UnsafeMutableRawPointer(bitPattern: b)) }
  }
}
