import CStorportMiniport
import Storport
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// Why a C miniport could not be loaded — each names the file and what to change.
public enum CMiniportLoadError: Error, CustomStringConvertible, Equatable {
  /// `dlopen` failed: no such file, not a shared object, or a symbol this host does not provide.
  case open(path: String, reason: String)
  /// The shared object has no `DriverEntry`.
  case noDriverEntry(path: String)
  /// `DriverEntry` returned a failure status without registering.
  case driverEntryFailed(path: String, status: UInt32, reason: String?)
  /// `DriverEntry` returned without calling `StorPortInitialize`.
  case neverInitialized(path: String)
  /// `StorPortInitialize` was given an HW_INITIALIZATION_DATA this host rejects.
  case badRegistration(path: String, reason: String)

  public var description: String {
    switch self {
    case .open(let path, let reason):
      if let r = reason.range(of: "undefined symbol: ") {
        let symbol = reason[r.upperBound...].prefix { $0 != " " && $0 != "," && $0 != ")" }
        return "\(path): the miniport calls \(symbol), which this host does not provide (\(reason))"
      }
      return "\(path): cannot be loaded: \(reason)"
    case .noDriverEntry(let path):
      return
        "\(path): no DriverEntry (a miniport exports `ULONG DriverEntry(PVOID DriverObject, PVOID RegistryPath)` that calls StorPortInitialize)"
    case .driverEntryFailed(let path, let status, let reason):
      if let reason {
        return
          "\(path): DriverEntry failed: \(reason) (it returned 0x\(String(status, radix: 16, uppercase: true)))"
      }
      return "\(path): DriverEntry returned 0x\(String(status, radix: 16, uppercase: true))"
    case .neverInitialized(let path):
      return "\(path): DriverEntry returned without calling StorPortInitialize"
    case .badRegistration(let path, let reason):
      return "\(path): StorPortInitialize rejected its HW_INITIALIZATION_DATA: \(reason)"
    }
  }
}

/// A C miniport in a shared object: `dlopen`ed (symbols resolved now, so a routine this host
/// lacks is an error at load, not a crash later), entered at `DriverEntry`, and registered by
/// its call to `StorPortInitialize`.
///
///     let library = try CMiniportLibrary.load(path: "ramdisk.so")
///     let adapter = runtime.attach(library.makeMiniport(argumentString: "DiskSize=1048576"))
public final class CMiniportLibrary: @unchecked Sendable {
  public let path: String
  /// The registration `DriverEntry` made (the first successful one).
  let registration: HW_INITIALIZATION_DATA
  let hwContext: UnsafeMutableRawPointer?
  private let handle: UnsafeMutableRawPointer

  /// The miniport's name for reports: the file name without directory and extension.
  public var name: String {
    let file = path.split(separator: "/").last.map(String.init) ?? path
    return file.hasSuffix(".so") ? String(file.dropLast(3)) : file
  }

  /// Whether a miniport built with `-fsanitize=thread` has reported a plain memory access in
  /// this process (false after an exploration: the race detector saw none of the miniport's
  /// own loads and stores — it was not built instrumented).
  public static var sawInstrumentedAccesses: Bool { CHost.sawInstrumentation.load(ordering: .relaxed) }

  /// Whether the miniport registered as virtual (no device behind it).
  public var isVirtual: Bool { CMiniport.isVirtual(registration) }

  private init(
    path: String, handle: UnsafeMutableRawPointer, registration: HW_INITIALIZATION_DATA,
    context: UnsafeMutableRawPointer?
  ) {
    self.path = path
    self.handle = handle
    self.registration = registration
    hwContext = context
  }

  /// Loads the shared object at `path` and runs its `DriverEntry`.
  public static func load(path: String) throws(CMiniportLoadError) -> CMiniportLibrary {
    _ = CHost.install
    // One load at a time: StorPortInitialize records into the load in progress.
    return try loadMutex.withLock { _ throws(CMiniportLoadError) -> CMiniportLibrary in
      try loadOne(path: path)
    }
  }

  private static let loadMutex = Mutex<Int>(0)

  private static func loadOne(path: String) throws(CMiniportLoadError) -> CMiniportLibrary {
    guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
      let reason = dlerror().map { String(cString: $0) } ?? "unknown error"
      throw .open(path: path, reason: reason)
    }
    guard let entry = dlsym(handle, "DriverEntry") else { throw .noDriverEntry(path: path) }
    loading.withLock { $0 = Loading() }
    let status = storport_call_driver_entry(entry, nil, nil)
    let outcome = loading.withLock { l -> Loading in
      let o = l!
      l = nil
      return o
    }
    if !outcome.problems.isEmpty {
      throw .driverEntryFailed(path: path, status: status, reason: outcome.problems.joined(separator: "; "))
    }
    if let (data, context) = outcome.registrations.first {
      return CMiniportLibrary(path: path, handle: handle, registration: data, context: context)
    }
    if let reason = outcome.rejection { throw .badRegistration(path: path, reason: reason) }
    if status != 0 { throw .driverEntryFailed(path: path, status: status, reason: nil) }
    throw .neverInitialized(path: path)
  }

  /// A miniport for one adapter. `argumentString` is the `ArgumentString` HwStorFindAdapter
  /// receives (the registry's DriverParameter, "Key=Value;…"); `device` is the hardware a
  /// physical miniport drives.
  public func makeMiniport(argumentString: String = "", device: CMiniportDevice? = nil) -> CMiniport {
    CMiniport(
      registration: registration, hwContext: hwContext, name: name, argumentString: argumentString,
      device: device, libraryPath: path)
  }

  // MARK: - StorPortInitialize

  private struct Loading {
    var registrations: [(HW_INITIALIZATION_DATA, UnsafeMutableRawPointer?)] = []
    var rejection: String?
    /// INVALID_PARAMETER and ASSERT failures while DriverEntry ran (no adapter to report to).
    var problems: [String] = []
  }

  /// Records a problem of the code DriverEntry runs; false when no load is in progress.
  static func recordLoadProblem(_ message: String) -> Bool {
    loading.withLock { l in
      guard l != nil else { return false }
      l!.problems.append(message)
      return true
    }
  }
  private static let loading = Locked<Loading?>(nil)

  /// `StorPortInitialize(Argument1, Argument2, HwInitializationData, HwContext)`: validates and
  /// records the registration of the miniport being loaded. Returns an NTSTATUS.
  static func register(hwInitializationData: UnsafeMutableRawPointer?, hwContext: UnsafeMutableRawPointer?)
    -> UInt32
  {
    let invalid: UInt32 = 0xC000_000D  // STATUS_INVALID_PARAMETER
    guard let raw = hwInitializationData else {
      reject("HwInitializationData is NULL")
      return invalid
    }
    let size = Int(raw.load(as: UInt32.self))
    let full = MemoryLayout<HW_INITIALIZATION_DATA>.size
    let accepted = [
      Int(bitPattern: UInt(MemoryLayout<HW_INITIALIZATION_DATA>.offset(of: \.HwFreeAdapterResources)!)),
      MemoryLayout<VIRTUAL_HW_INITIALIZATION_DATA>.size, full,
    ]
    guard accepted.contains(size) else {
      reject(
        "HwInitializationDataSize is \(size); expected sizeof(HW_INITIALIZATION_DATA) = \(full) (or \(accepted[0]) for a pre-Windows 8 physical miniport, \(accepted[1]) for VIRTUAL_HW_INITIALIZATION_DATA)"
      )
      return invalid
    }
    var data = HW_INITIALIZATION_DATA()
    withUnsafeMutableBytes(of: &data) { $0.copyMemory(from: UnsafeRawBufferPointer(start: raw, count: size)) }
    var missing: [String] = []
    if data.HwFindAdapter == nil { missing.append("HwFindAdapter") }
    if data.HwInitialize == nil { missing.append("HwInitialize") }
    if data.HwStartIo == nil { missing.append("HwStartIo") }
    guard missing.isEmpty else {
      reject("\(missing.joined(separator: ", ")) \(missing.count == 1 ? "is" : "are") NULL")
      return invalid
    }
    guard data.DeviceExtensionSize <= 16 << 20 else {
      reject("DeviceExtensionSize \(data.DeviceExtensionSize) is more than 16 MiB")
      return invalid
    }
    guard data.SrbExtensionSize <= 1 << 20 else {
      reject("SrbExtensionSize \(data.SrbExtensionSize) is more than 1 MiB")
      return invalid
    }
    guard data.SpecificLuExtensionSize <= 1 << 20 else {
      reject("SpecificLuExtensionSize \(data.SpecificLuExtensionSize) is more than 1 MiB")
      return invalid
    }
    if size >= full {
      let known = UInt32(SRB_TYPE_FLAG_SCSI_REQUEST_BLOCK | SRB_TYPE_FLAG_STORAGE_REQUEST_BLOCK)
      guard data.SrbTypeFlags & ~known == 0 else {
        reject(
          "SrbTypeFlags 0x\(String(data.SrbTypeFlags, radix: 16)) has bits other than SRB_TYPE_FLAG_SCSI_REQUEST_BLOCK | SRB_TYPE_FLAG_STORAGE_REQUEST_BLOCK"
        )
        return invalid
      }
    }
    guard data.AdapterInterfaceType.rawValue >= 0,
      data.AdapterInterfaceType.rawValue < MaximumInterfaceType.rawValue
    else {
      reject("AdapterInterfaceType \(data.AdapterInterfaceType.rawValue) is not an INTERFACE_TYPE")
      return invalid
    }
    let recorded = loading.withLock { l -> Bool in
      guard l != nil else { return false }
      l!.registrations.append((data, hwContext))
      return true
    }
    guard recorded else {
      CHost.note("StorPortInitialize called outside DriverEntry; ignored")
      return 0xC000_0001  // STATUS_UNSUCCESSFUL
    }
    return 0
  }

  private static func reject(_ reason: String) {
    loading.withLock { l in
      if l != nil, l!.rejection == nil { l!.rejection = reason }
    }
  }
}
