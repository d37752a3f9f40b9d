import Storport

/// Fused operations and the write exclusion that makes them atomic.
///
/// A fused Compare + Write (NVMe base specification §3.4.2, "Fused Operations"; advertised in
/// Identify Controller FUSES bit 0) compares a range and, only if it matches, writes it, with no
/// other write to that range in between. Every command on blocks (Read, Write, Compare, Write
/// Zeroes, Dataset Management deallocate) holds the stripes of its blocks while it runs; a
/// fused pair holds its range's stripes across both commands. So a command within one
/// transfer is atomic against every other (Identify Namespace NAWUN; WRITE ATOMIC relies on
/// it): a read sees a write whole or not at all.
extension NvmeController {
  /// Runs `body` holding the stripes of blocks [lba, lba + count) (``StripeLocks``: taken in
  /// stripe order, so no two commands can deadlock). Must not be nested.
  func withBlocksExcluded<R>(_ lba: UInt64, _ count: Int, _ body: () -> R) -> R {
    stripeLocks.withExcluded(lba: lba, count: count, body)
  }

  /// Executes a fused pair: `first` must be a Compare and `second` a Write of the same
  /// namespace and blocks (else both fail: Invalid Field, then Aborted — Failed Fused Command).
  /// The Write runs only if the Compare matched; a failed Compare aborts it (status 0x05).
  func executeFused(_ first: NvmeCommand, _ second: NvmeCommand) -> (NvmeStatus, NvmeStatus) {
    guard first.opcode == NvmeOpcode.compare, second.opcode == NvmeOpcode.write,
      first.namespaceId == second.namespaceId, first.cdw10 == second.cdw10, first.cdw11 == second.cdw11,
      first.cdw12 & 0xFFFF == second.cdw12 & 0xFFFF
    else { return (.invalidField, .abortedFailedFused) }
    let slba = UInt64(first.cdw11) << 32 | UInt64(first.cdw10)
    let nlb = Int(first.cdw12 & 0xFFFF) + 1
    guard slba < store.blockCount, UInt64(nlb) <= store.blockCount - slba else {
      return (.lbaOutOfRange, .abortedFailedFused)
    }
    return withBlocksExcluded(slba, nlb) {
      let (compared, _) = executeIo(first, blocksExcluded: true)
      guard compared.isSuccess else { return (compared, .abortedFailedFused) }
      return (compared, executeIo(second, blocksExcluded: true).0)
    }
  }
}
