import Storport
import Testing

@testable import StorportDevices

#if canImport(Glibc)
  import Glibc
#endif

/// Fused Compare + Write in the controller model (NVMe base specification §3.4.2): the Write
/// runs only when the Compare matched, a failed Compare aborts it (Failed Fused Command), and a
/// pair that is not the adjacent entries of one doorbell write is aborted as missing.
@Suite struct NvmeFusedTests {
  static func command(
    _ opcode: UInt8, _ fuse: UInt8, lba: UInt64, blocks: Int, _ data: UnsafeMutableRawPointer
  )
    -> NvmeCommand
  {
    var c = NvmeCommand()
    c.opcode = opcode
    c.fuse = fuse
    c.namespaceId = 1
    c.prp1 = UInt64(UInt(bitPattern: data))
    c.cdw10 = UInt32(truncatingIfNeeded: lba)
    c.cdw12 = UInt32(blocks - 1)
    return c
  }

  @Test func theWriteRunsOnlyWhenTheCompareMatches() throws {
    let c = try NvmePrpTests.controller()  // 512-byte blocks
    let media = NvmePrpTests.pages(1)
    let expected = NvmePrpTests.pages(1)
    let replacement = NvmePrpTests.pages(1)
    defer { [media, expected, replacement].forEach { $0.deallocate() } }
    media.initializeMemory(as: UInt8.self, repeating: 0xA5, count: 4096)
    try c.store.write(lba: 8, count: 8, from: media, forceUnitAccess: false)
    replacement.initializeMemory(as: UInt8.self, repeating: 0x3C, count: 4096)

    // A miscompare: the Compare fails, the Write is aborted, the medium keeps its data.
    expected.initializeMemory(as: UInt8.self, repeating: 0xA5, count: 4096)
    expected.storeBytes(of: 0, toByteOffset: 1000, as: UInt8.self)
    let compare = Self.command(NvmeOpcode.compare, NvmeFuse.first, lba: 8, blocks: 8, expected)
    let write = Self.command(NvmeOpcode.write, NvmeFuse.second, lba: 8, blocks: 8, replacement)
    var (compared, written) = c.executeFused(compare, write)
    #expect(compared == .compareFailure)
    #expect(written == .abortedFailedFused)
    let back = NvmePrpTests.pages(1)
    defer { back.deallocate() }
    try c.store.read(lba: 8, count: 8, into: back)
    #expect(memcmp(back, media, 4096) == 0, "a failed compare wrote")

    // Positive control: a match writes.
    expected.storeBytes(of: 0xA5, toByteOffset: 1000, as: UInt8.self)
    (compared, written) = c.executeFused(compare, write)
    #expect(compared == .success)
    #expect(written == .success)
    try c.store.read(lba: 8, count: 8, into: back)
    #expect(memcmp(back, replacement, 4096) == 0, "a matching compare did not write")

    // A pair whose halves name different blocks is refused as a whole.
    let elsewhere = Self.command(NvmeOpcode.write, NvmeFuse.second, lba: 16, blocks: 8, replacement)
    (compared, written) = c.executeFused(compare, elsewhere)
    #expect(compared == .invalidField)
    #expect(written == .abortedFailedFused)
  }

  @Test func writeStripesCoverTheRangeAndWrapOnlyForHugeRanges() {
    let b = StripeLocks.stripeBlocks
    #expect(StripeLocks.mask(lba: 0, count: 1) == 1)
    #expect(StripeLocks.mask(lba: b - 1, count: 2) == 0b11)
    #expect(StripeLocks.mask(lba: b * 63, count: Int(b) * 2) == UInt64(1) << 63 | 1)
    #expect(StripeLocks.mask(lba: 5, count: Int(b) * 64) == ~0)
  }
}
