import Foundation
import Storport
import StorportDevices
import StorportExplorer

/// The harness `storport explore --miniport PATH.so` builds, as a name that a schedule file
/// records and `storport replay` rebuilds from: `miniport:<workload>:<device>:<args>:<path>`
/// (`%` and `:` in the arguments written `%25` and `%3A`).
public struct CMiniportHarnessSpec: Sendable, Equatable {
  /// The hardware behind the adapter.
  public enum Device: String, Sendable, CaseIterable {
    /// None: a virtual miniport, or a fixture that needs none.
    case none
    /// The emulated NVMe controller on a PCI bus (``CNvmeDevice``).
    case nvme
  }

  public var path: String
  public var workload: CMiniportHarness.Workload
  public var device: Device
  public var arguments: String

  public init(
    path: String, workload: CMiniportHarness.Workload = .full, device: Device = .none, arguments: String = ""
  ) {
    self.path = path
    self.workload = workload
    self.device = device
    self.arguments = arguments
  }

  public var name: String {
    let args = arguments.replacingOccurrences(of: "%", with: "%25").replacingOccurrences(of: ":", with: "%3A")
    return "miniport:\(workload.rawValue):\(device.rawValue):\(args):\(path)"
  }

  /// The spec a harness name encodes, or nil if it is not a C-miniport harness name.
  public static func parse(_ name: String) -> CMiniportHarnessSpec? {
    guard name.hasPrefix("miniport:") else { return nil }
    let parts = name.dropFirst("miniport:".count).split(
      separator: ":", maxSplits: 3, omittingEmptySubsequences: false)
    guard parts.count == 4, let w = CMiniportHarness.Workload(rawValue: String(parts[0])),
      let d = Device(rawValue: String(parts[1]))
    else { return nil }
    let args = String(parts[2]).replacingOccurrences(of: "%3A", with: ":").replacingOccurrences(
      of: "%25", with: "%")
    return CMiniportHarnessSpec(path: String(parts[3]), workload: w, device: d, arguments: args)
  }

  /// Loads the miniport and builds its harness (2 processors; NVMe: a 1 MiB RAM namespace of
  /// 512-byte blocks, fresh for each schedule).
  public func harness() throws(CMiniportLoadError) -> ExplorationHarness {
    let library = try CMiniportLibrary.load(path: path)
    let makeDevice: (@Sendable (HarnessRun) -> CMiniportDevice?)? = device == .none ? nil : Self.makeNvme
    let ready: (@Sendable (Adapter) -> Bool)? = device == .nvme ? Self.nvmeReady : nil
    let argumentString = arguments.isEmpty ? "DiskSize=1048576;BlockSize=512" : arguments
    let base = CMiniportHarness.make(
      library, workload: workload, argumentString: argumentString, blockSize: 512, makeDevice: makeDevice,
      ready: ready)
    return ExplorationHarness(
      name: name, summary: base.summary, processors: base.processors, expectsFailure: false, body: base.body)
  }

  @Sendable static func makeNvme(_ run: HarnessRun) -> CMiniportDevice? {
    let store: BlockStore
    if let ram = try? RamStore(bytes: 1 << 20, blockSize: 512) {
      store = ram
    } else {
      store = NullStore(bytes: 1 << 20, blockSize: 512)
    }
    return CNvmeDevice.emulated(store: store, platform: run.runtime.platform)
  }

  @Sendable static func nvmeReady(_ adapter: Adapter) -> Bool {
    let ext = adapter.deviceExtension(as: CMiniportExtension.self)
    return (ext.miniport?.device as? CNvmeDevice)?.isReady ?? false
  }
}
