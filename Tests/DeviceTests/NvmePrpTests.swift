import Storport
import Testing

@testable import StorportDevices

/// The controller model takes data where the command's PRPs say (NVMe base specification §4.3):
/// PRP1 at any offset, PRP2 as the second page or a PRP list, list pages chained by their last
/// entry — and refuses malformed PRPs with a Data Transfer Error rather than guessing.
@Suite struct NvmePrpTests {
  static func controller() throws -> NvmeController {
    NvmeController(
      store: try RamStore(bytes: 1 << 20, blockSize: 512), platform: SimulatedPlatform(processors: 1, seed: 1)
    )
  }

  static func pages(_ n: Int) -> UnsafeMutableRawPointer {
    let p = UnsafeMutableRawPointer.allocate(byteCount: n * 4096, alignment: 4096)
    p.initializeMemory(as: UInt8.self, repeating: 0, count: n * 4096)
    return p
  }

  static func write(
    _ c: NvmeController, lba: UInt64, blocks: Int, prp1: UnsafeMutableRawPointer, prp2: UInt64
  )
    -> NvmeStatus
  {
    var command = NvmeCommand()
    command.opcode = NvmeOpcode.write
    command.namespaceId = 1
    command.prp1 = UInt64(UInt(bitPattern: prp1))
    command.prp2 = prp2
    command.cdw10 = UInt32(truncatingIfNeeded: lba)
    command.cdw12 = UInt32(blocks - 1)
    return c.executeIo(command).0
  }

  @Test func aTransferPastOnePageWithoutPrp2IsADataTransferError() throws {
    let c = try Self.controller()
    let buffer = Self.pages(2)
    defer { buffer.deallocate() }
    #expect(Self.write(c, lba: 0, blocks: 16, prp1: buffer, prp2: 0) == .dataTransferError)
    // Positive control: one page needs no PRP2.
    #expect(Self.write(c, lba: 0, blocks: 8, prp1: buffer, prp2: 0) == .success)
  }

  /// Pages scattered in host memory, named by a PRP list, land in order on the medium.
  @Test func aScatteredPrpListIsGatheredInOrder() throws {
    let c = try Self.controller()
    let data = Self.pages(8)  // we use pages 6, 1, 4 in that order
    let list = Self.pages(1)
    defer {
      data.deallocate()
      list.deallocate()
    }
    let order = [6, 1, 4]
    for (i, page) in order.enumerated() {
      (data + page * 4096).initializeMemory(as: UInt8.self, repeating: UInt8(0x10 + i), count: 4096)
    }
    // PRP1 = page 6; PRP2 = list of pages 1 and 4.
    list.storeBytes(of: UInt64(UInt(bitPattern: data + 1 * 4096)), as: UInt64.self)
    list.storeBytes(of: UInt64(UInt(bitPattern: data + 4 * 4096)), toByteOffset: 8, as: UInt64.self)
    #expect(
      Self.write(c, lba: 0, blocks: 24, prp1: data + 6 * 4096, prp2: UInt64(UInt(bitPattern: list)))
        == .success)
    let back = Self.pages(3)
    defer { back.deallocate() }
    try c.store.read(lba: 0, count: 24, into: back)
    for i in 0..<3 {
      #expect((back + i * 4096).load(as: UInt8.self) == UInt8(0x10 + i), "page \(i)")
      #expect((back + i * 4096 + 4095).load(as: UInt8.self) == UInt8(0x10 + i), "page \(i) end")
    }
  }

  @Test func aPrpListEntryWithAnOffsetIsRefused() throws {
    let c = try Self.controller()
    let data = Self.pages(3)
    let list = Self.pages(1)
    defer {
      data.deallocate()
      list.deallocate()
    }
    list.storeBytes(of: UInt64(UInt(bitPattern: data + 4096 + 8)), as: UInt64.self)  // not page-aligned
    list.storeBytes(of: UInt64(UInt(bitPattern: data + 2 * 4096)), toByteOffset: 8, as: UInt64.self)
    #expect(
      Self.write(c, lba: 0, blocks: 24, prp1: data, prp2: UInt64(UInt(bitPattern: list)))
        == .dataTransferError)
  }
}
