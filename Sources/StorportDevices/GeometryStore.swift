/// A store that knows only its geometry (block size and count) — for a logical unit that
/// answers the non-data commands while the data goes elsewhere (an NVMe namespace).
public final class GeometryStore: BlockStore, Sendable {
  public let blockSize: Int
  public let blockCount: UInt64
  public var holdsData: Bool { thin }
  let thin: Bool

  public init(blockSize: Int, blockCount: UInt64, thinProvisioned: Bool) {
    self.blockSize = blockSize
    self.blockCount = blockCount
    thin = thinProvisioned
  }
  public func read(lba: UInt64, count: Int, into buffer: UnsafeMutableRawPointer) throws(BlockStoreError) {
    throw .noData
  }
  public func write(lba: UInt64, count: Int, from buffer: UnsafeRawPointer, forceUnitAccess: Bool)
    throws(BlockStoreError)
  {
    throw .noData
  }
  public func flush() throws(BlockStoreError) {}
  public func deallocate(lba: UInt64, count: Int) throws(BlockStoreError) { throw .noData }
  public func isMapped(lba: UInt64) -> Bool { true }
}
