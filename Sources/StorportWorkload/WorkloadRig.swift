import Storport
import StorportC
import StorportDevices
import StorportSCSI
import StorportSamples

/// A runtime with one adapter of the chosen miniport on the chosen target, started.
public struct WorkloadRig: @unchecked Sendable {
  public let runtime: StorportRuntime
  public let adapter: Adapter
  public let store: BlockStore
  /// The emulated controller (NVMe miniport only).
  public private(set) var device: NvmeController?

  /// Opens (and, when the target says so, creates or grows) the store, attaches the miniport
  /// and starts the adapter; for NVMe, waits for the miniport's timer to bring the
  /// controller up.
  public init(_ o: WorkloadOptions, target: WorkloadTarget) throws(WorkloadError) {
    let platform: Platform =
      o.simulated
      ? SimulatedPlatform(processors: o.processors ?? 2, seed: o.seed)
      : LivePlatform(processors: o.processors, idlePolicy: o.idlePolicy)
    let store: BlockStore
    do {
      switch o.target {
      case .ram:
        store = try RamStore(
          bytes: target.sizeBytes, blockSize: target.logicalBlockSize, readOnly: o.readOnly)
      case .null: store = NullStore(bytes: target.sizeBytes, blockSize: target.logicalBlockSize)
      case .file(let path, let direct):
        store = try FileStore(
          path: path, bytes: target.sizeBytes, blockSize: target.logicalBlockSize,
          access: target.readOnly ? .readOnly : .readWrite, create: target.creates, direct: direct)
      }
    } catch { throw .store(error) }
    self.store = store
    // Unchecked runs keep no trace ring unless a trace was asked for: it exists for reports.
    let trace: TraceMode = o.verifier.isChecked || o.trace != .reportRing ? o.trace : .off
    runtime = StorportRuntime(platform: platform, verifier: o.verifier, trace: trace)
    device = nil
    if let path = o.miniportLibrary {
      let library: CMiniportLibrary
      do { library = try CMiniportLibrary.load(path: path) } catch {
        throw .option(OptionError("--miniport", path, error.description))
      }
      var arguments = "DiskSize=\(target.sizeBytes);BlockSize=\(target.logicalBlockSize)"
      if let extra = o.miniportArguments, !extra.isEmpty { arguments += ";" + extra }
      var cDevice: CNvmeDevice? = nil
      if library.isVirtual {
        guard o.target == .ram else {
          throw .option(
            OptionError(
              o.target.path.map { _ in "--filename" } ?? "--backing", o.target.path ?? "null",
              "\(library.name) is a virtual miniport that keeps its own data; --filename and --backing apply to miniports on the emulated NVMe controller"
            ))
        }
      } else {
        var config = NvmeController.Configuration()
        config.latency = o.effectiveLatency
        config.faults = o.faults
        config.seed = o.seed
        cDevice = CNvmeDevice.emulated(store: store, platform: platform, configuration: config)
        device = cDevice?.controller
      }
      if library.isVirtual && (o.faults != .none || o.latency != nil) {
        throw .option(
          OptionError(
            o.faults != .none ? "--fault" : "--latency", nil,
            "applies to miniports on the emulated NVMe controller; \(library.name) is virtual"))
      }
      adapter = runtime.attach(library.makeMiniport(argumentString: arguments, device: cDevice))
      cDevice?.connect(adapter)
      runtime.start()
      adapter.start()
      runtime.runUntil(timeoutNanoseconds: 10_000_000_000) { [adapter] in
        adapter.state != .starting && adapter.state != .attached
      }
      guard adapter.state == .running else {
        let verdict = runtime.verifier.violations.first.map { ": \($0)" } ?? ""
        runtime.shutdown()
        throw .adapterFailed("\(library.name): the adapter did not start (state \(adapter.state))\(verdict)")
      }
      if let cDevice {
        // A physical miniport brings the controller up from its own timer.
        runtime.runUntil(timeoutNanoseconds: 10_000_000_000) { cDevice.isReady }
        guard cDevice.isReady else {
          runtime.shutdown()
          throw .adapterFailed(
            "\(library.name): the NVMe controller has no I/O queue 10 s after the adapter started")
        }
      }
      let maximum = Int(adapter.configuration.maximumTransferLength)
      if target.unitBytes > maximum {
        runtime.shutdown()
        throw .option(
          OptionError(
            "--bs", "\(target.unitBytes)",
            "larger than \(library.name)'s MaximumTransferLength (\(maximum) bytes)"))
      }
      return
    }
    switch o.miniport {
    case .ramdisk:
      adapter = runtime.attach(RamDiskMiniport(store: store, completion: o.effectiveCompletion))
    case .nvme:
      var config = NvmeController.Configuration()
      config.latency = o.effectiveLatency
      config.faults = o.faults
      config.seed = o.seed
      let controller = NvmeController(store: store, platform: platform, configuration: config)
      device = controller
      adapter = runtime.attach(
        NvmeMiniport(
          device: controller, queues: platform.processorCount,
          stuckTimeoutMilliseconds: o.effectiveStuckTimeoutMilliseconds))
      // The controller's MSI-X vectors raise the adapter's messages (the board's wiring).
      controller.connectInterrupts(adapter.device)
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

  /// A rig for tests: RAM (or null) target of `o.sizeBytes` (default 256 MiB).
  public init(_ o: WorkloadOptions) throws(WorkloadError) {
    try self.init(o, target: WorkloadTarget.resolve(o).0)
  }
}
