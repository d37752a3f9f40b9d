import Storport
import StorportDevices
import StorportSCSI
import StorportSamples

/// A runtime with one adapter of the chosen miniport on the chosen backing, started.
public struct WorkloadRig: @unchecked Sendable {
  public let runtime: StorportRuntime
  public let adapter: StorPort
  public let store: BlockStore
  /// The emulated controller (NVMe miniport only).
  public private(set) var device: NvmeController?

  public init(_ o: WorkloadOptions) throws {
    let platform: Platform =
      o.simulated
      ? SimulatedPlatform(processors: o.processors ?? 2, seed: o.seed)
      : LivePlatform(processors: o.processors, idlePolicy: o.idlePolicy)
    let store: BlockStore
    switch o.backing {
    case .ram: store = RamStore(bytes: o.diskBytes)
    case .null: store = NullStore(bytes: o.diskBytes)
    case .file(let path): store = try FileStore(path: path, bytes: o.diskBytes)
    case .directFile(let path): store = try FileStore(path: path, bytes: o.diskBytes, direct: true)
    }
    self.store = store
    // Unchecked runs keep no trace ring: it exists for verifier reports.
    let trace: TraceMode = o.verifier.isChecked || o.trace == .full ? o.trace : .off
    runtime = StorportRuntime(platform: platform, verifier: o.verifier, trace: trace)
    device = nil
    switch o.miniport {
    case .ramdisk:
      adapter = runtime.attach(RamDiskMiniport(store: store, completion: o.ramdiskCompletion))
    case .nvme:
      var config = NvmeController.Configuration()
      config.latency = o.latency
      config.faults = o.faults
      config.seed = o.seed
      let controller = NvmeController(store: store, platform: platform, configuration: config)
      device = controller
      adapter = runtime.attach(
        NvmeMiniport(
          device: controller, queues: platform.processorCount,
          stuckTimeoutMilliseconds: o.stuckTimeoutMilliseconds))
    }
    runtime.start()
    adapter.start()
    runtime.runUntil(timeoutNanoseconds: 10_000_000_000) { [adapter] in
      adapter.state != .starting && adapter.state != .attached
    }
    if o.miniport == .nvme, adapter.state == .running {
      // The port is running; the controller comes up through the miniport's timer.
      let ext = adapter.deviceExtension(as: NvmeExtension.self)
      runtime.runUntil(timeoutNanoseconds: 10_000_000_000) { ext.startupsCompleted.load() > 0 }
    }
  }
}
