import CStorportMiniport
import Storport
import StorportDevices

#if canImport(Glibc)
  import Glibc
#endif

/// The emulated NVMe controller as a C miniport's driver sees it on a PCI bus: a type-0
/// configuration header (class 01h/08h/02h, an NVM Express controller) with a 64-bit memory
/// BAR0 and an MSI-X capability; BAR0 holds the controller registers, the doorbells and the
/// MSI-X table. `StorPortGetDeviceBase` maps BAR0 to a reserved, inaccessible host region — the
/// StorPortRead/WriteRegister routines decode addresses in it; a direct dereference faults, as
/// an unmapped access would. MSI-X vector `n` is the adapter's message `n`.
public final class CNvmeDevice: CMiniportDevice, CMiniportDeviceWiring, @unchecked Sendable {
  public let controller: NvmeController
  /// Bus address and size of BAR0.
  public static let barAddress: UInt64 = 0xFE00_0000
  public static let barBytes = 0x4000
  /// MSI-X table and PBA offsets in BAR0.
  static let msixTable = 0x2000
  static let msixPba = 0x3000

  public let messageCount: UInt32
  private let configuration = Locked<[UInt8]>(Array(repeating: 0, count: 256))
  private let window: UnsafeMutableRawPointer
  private let ranges: UnsafeMutablePointer<ACCESS_RANGE>
  private let msix = Locked<[UInt32]>([])

  /// - Parameter messages: MSI-X vectors (one per completion queue the driver may create, plus
  ///   the admin queue's).
  public init(controller: NvmeController, messages: Int) {
    self.controller = controller
    messageCount = UInt32(max(1, min(messages, 64)))
    window = mmap(nil, Self.barBytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)!
    ranges = .allocate(capacity: 1)
    ranges.initialize(to: ACCESS_RANGE())
    ranges.pointee.RangeStart.QuadPart = Int64(Self.barAddress)
    ranges.pointee.RangeLength = UInt32(Self.barBytes)
    ranges.pointee.RangeInMemory = 1
    msix.withLock { $0 = Array(repeating: 0, count: Int(messageCount) * 4) }
    configuration.withLock { c in
      func put16(_ o: Int, _ v: UInt16) {
        c[o] = UInt8(v & 0xFF)
        c[o + 1] = UInt8(v >> 8)
      }
      func put32(_ o: Int, _ v: UInt32) { for i in 0..<4 { c[o + i] = UInt8((v >> (8 * UInt32(i))) & 0xFF) } }
      put16(0x00, 0x1B36)  // vendor
      put16(0x02, 0x0010)  // device: an NVM Express controller
      put16(0x04, 0x0006)  // command: memory space, bus master
      put16(0x06, 0x0010)  // status: capabilities list
      c[0x08] = 0x02  // revision
      c[0x09] = 0x02  // prog-if: NVM Express
      c[0x0A] = 0x08  // subclass: non-volatile memory controller
      c[0x0B] = 0x01  // class: mass storage
      put32(0x10, UInt32(truncatingIfNeeded: Self.barAddress) | 0x4)  // 64-bit memory BAR0
      put32(0x14, UInt32(truncatingIfNeeded: Self.barAddress >> 32))
      put16(0x2C, 0x1B36)  // subsystem vendor
      put16(0x2E, 0x1100)
      c[0x34] = 0x40  // capabilities pointer
      c[0x3C] = 0x0B  // interrupt line
      c[0x3D] = 0x01  // INTA
      // MSI-X capability at 0x40: table in BAR0 at msixTable, PBA at msixPba.
      c[0x40] = 0x11
      c[0x41] = 0x00
      put16(0x42, UInt16(messageCount - 1) | 0x8000)  // table size - 1, enabled
      put32(0x44, UInt32(Self.msixTable))  // BIR 0
      put32(0x48, UInt32(Self.msixPba))
    }
  }

  deinit {
    munmap(window, Self.barBytes)
    ranges.deallocate()
  }

  /// A fresh emulated controller on `store` with one MSI-X message per processor plus the
  /// admin queue's — the hardware `bench io`, `run` and `explore` give a physical C miniport.
  public static func emulated(
    store: BlockStore, platform: Platform, configuration: NvmeController.Configuration = .init()
  ) -> CNvmeDevice {
    CNvmeDevice(
      controller: NvmeController(store: store, platform: platform, configuration: configuration),
      messages: platform.processorCount + 1)
  }

  /// The driver has brought the controller up: at least one I/O submission queue exists.
  public var isReady: Bool { controller.ioSubmissionQueues > 0 }

  public func connect(_ adapter: Adapter) { controller.connectInterrupts(adapter.device) }

  public func describe(into info: UnsafeMutablePointer<PORT_CONFIGURATION_INFORMATION>) {
    info.pointee.AdapterInterfaceType = PCIBus
    info.pointee.SystemIoBusNumber = 0
    info.pointee.SlotNumber = 0
    info.pointee.InterruptMode = Latched
    info.pointee.BusInterruptLevel = 0x0B
    info.pointee.BusInterruptVector = 0x0B
    info.pointee.Dma64BitAddresses = UInt8(SCSI_DMA64_SYSTEM_SUPPORTED)
    storport_config_set_access_ranges(info, ranges, 1)
  }

  public func readConfiguration(offset: Int, into buffer: UnsafeMutableRawBufferPointer) -> Int {
    configuration.withLock { c in
      guard offset < c.count else { return 0 }
      let n = min(buffer.count, c.count - offset)
      for i in 0..<n { buffer[i] = c[offset + i] }
      return n
    }
  }

  public func writeConfiguration(offset: Int, from buffer: UnsafeRawBufferPointer) -> Int {
    configuration.withLock { c in
      guard offset < c.count else { return 0 }
      let n = min(buffer.count, c.count - offset)
      // Only the command register and the MSI-X message control are writable here; BAR
      // sizing writes (all ones) read back the size mask, as on real hardware.
      for i in 0..<n {
        let o = offset + i
        switch o {
        case 0x04...0x05, 0x43: c[o] = buffer[i]
        case 0x10...0x17:
          c[o] = buffer[i]
        default: break
        }
      }
      // A BAR sizing probe: all ones written to BAR0 reads back the size mask.
      if c[0x10] == 0xFF && c[0x11] == 0xFF && c[0x12] == 0xFF && c[0x13] == 0xFF {
        let mask = ~UInt32(Self.barBytes - 1) | 0x4
        for i in 0..<4 { c[0x10 + i] = UInt8((mask >> (8 * UInt32(i))) & 0xFF) }
      }
      return n
    }
  }

  public func mapRange(address: UInt64, bytes: Int, inIoSpace: Bool) -> UnsafeMutableRawPointer? {
    guard !inIoSpace, address >= Self.barAddress, bytes >= 0, bytes <= Self.barBytes,
      address - Self.barAddress <= UInt64(Self.barBytes - bytes)
    else { return nil }
    return window + Int(address - Self.barAddress)
  }

  private func offset(_ address: UInt, _ width: Int) -> Int? {
    let base = UInt(bitPattern: window)
    guard width >= 1, width <= 8, width & (width - 1) == 0, address >= base,
      address - base <= UInt(Self.barBytes - width)
    else { return nil }
    return Int(address - base)
  }

  public func readRegister(at address: UInt, width: Int) -> UInt64? {
    guard let o = offset(address, width) else { return nil }
    if o >= Self.msixTable {
      return msix.withLock { t in
        let i = (o - Self.msixTable) / 4
        return i < t.count ? UInt64(t[i]) : 0
      }
    }
    if width == 8 { return controller.read64(o) }
    let word = UInt64(controller.read32(o & ~3))
    let shift = UInt64((o & 3) * 8)
    let mask: UInt64 = width == 4 ? 0xFFFF_FFFF : width == 2 ? 0xFFFF : 0xFF
    return (word >> shift) & mask
  }

  public func writeRegister(at address: UInt, width: Int, value: UInt64) -> Bool {
    guard let o = offset(address, width) else { return false }
    if o >= Self.msixTable {
      msix.withLock { t in
        let i = (o - Self.msixTable) / 4
        if i < t.count { t[i] = UInt32(truncatingIfNeeded: value) }
      }
      return true
    }
    switch width {
    case 8: controller.write64(o, value)
    case 4: controller.write32(o, UInt32(truncatingIfNeeded: value))
    default:
      // Narrow writes merge into the 32-bit register.
      let aligned = o & ~3
      let shift = UInt32((o & 3) * 8)
      let mask: UInt32 = (width == 2 ? 0xFFFF : 0xFF) << shift
      let old = controller.read32(aligned)
      controller.write32(aligned, (old & ~mask) | (UInt32(truncatingIfNeeded: value) << shift & mask))
    }
    return true
  }
}
