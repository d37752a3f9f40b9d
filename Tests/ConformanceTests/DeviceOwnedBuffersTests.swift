import Testing

@testable import Storport

/// The table of buffers a device owns (REQUEST_COMPLETED_WHILE_DEVICE_OWNS_IT): page-aligned
/// buffers — what every data buffer is — must spread over the shards and over the table's
/// slots, or every I/O of every processor meets on one lock and lookups become scans.
@Suite struct DeviceOwnedBuffersTests {
  @Test func pageAlignedBuffersSpreadOverTheShards() {
    let base: UInt = 0x7F00_0000_0000
    let shards = Set((0..<64).map { DeviceOwnedBufferTable.shardIndex(base + UInt($0) * 4096) })
    #expect(shards.count >= DeviceOwnedBufferTable.shardCount / 2, "\(shards.count) shards used")
  }

  @Test func takesGiveBacksAndLookupsAreExactUnderLoad() {
    var table = DeviceOwnedBuffers()
    let addresses = (0..<500).map { UInt(0x7F00_0000_0000) + UInt($0) * 4096 }
    for a in addresses { table.take(a) }
    table.take(addresses[7])  // a second take of one buffer
    #expect(table.count == 500)
    #expect(addresses.allSatisfy { table.contains($0) })
    #expect(!table.contains(0x7F00_0000_0000 + 4096 * 600))
    for a in addresses {
      let given = table.giveBack(a)
      #expect(given)
    }
    #expect(table.contains(addresses[7]), "taken twice, given back once")
    let second = table.giveBack(addresses[7])
    let third = table.giveBack(addresses[7])
    #expect(second)
    #expect(!third, "not taken any more")
    #expect(table.count == 0)
  }
}
