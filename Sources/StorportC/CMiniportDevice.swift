import CStorportMiniport

/// The hardware a physical C miniport drives, as the bus presents it: PCI configuration space
/// (StorPortGetBusData / StorPortSetBusDataByOffset), the memory ranges of its BARs
/// (ACCESS_RANGEs in PORT_CONFIGURATION_INFORMATION, mapped by StorPortGetDeviceBase and
/// reached through the StorPortRead/WriteRegister routines) and its MSI-X messages.
///
/// Register access is by the address StorPortGetDeviceBase returned: the device keeps a
/// mapping of each BAR (a reserved, inaccessible region, so a stray direct dereference faults
/// instead of reading stale memory) and decodes offsets within it.
public protocol CMiniportDevice: AnyObject, Sendable {
  /// MSI-X messages granted to the adapter.
  var messageCount: UInt32 { get }
  /// Fills the bus-given parts of PORT_CONFIGURATION_INFORMATION before HwStorFindAdapter:
  /// AdapterInterfaceType, SlotNumber, the ACCESS_RANGE array, interrupt mode.
  func describe(into info: UnsafeMutablePointer<PORT_CONFIGURATION_INFORMATION>)
  /// Copies configuration space from `offset` into `buffer`; returns the bytes copied.
  func readConfiguration(offset: Int, into buffer: UnsafeMutableRawBufferPointer) -> Int
  /// Writes configuration space at `offset`; returns the bytes written.
  func writeConfiguration(offset: Int, from buffer: UnsafeRawBufferPointer) -> Int
  /// StorPortGetDeviceBase: the mapped address of the bus range starting at `address`
  /// (`bytes` long), or nil if no BAR holds it.
  func mapRange(address: UInt64, bytes: Int, inIoSpace: Bool) -> UnsafeMutableRawPointer?
  /// A register read at a mapped address (width in bytes: 1, 2, 4 or 8); nil if unmapped.
  func readRegister(at address: UInt, width: Int) -> UInt64?
  /// A register write at a mapped address (width in bytes); false if unmapped.
  func writeRegister(at address: UInt, width: Int, value: UInt64) -> Bool
}
