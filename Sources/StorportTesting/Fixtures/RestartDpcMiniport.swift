import Storport

/// The restart-uninitialised-dpc fixture: the STOR_DPC is initialised in the passive
/// initialisation routine; ScsiRestartAdapter "resets the extension" and re-zeroes it, but
/// HwStorPassiveInitializeRoutine does not run again after a restart, so the next interrupt
/// issues a STOR_DPC that StorPortInitializeDpc never saw.
///
/// * ``RacyRestartDpcMiniport`` replaces its STOR_DPC in HwStorAdapterControl(ScsiRestartAdapter).
/// * ``RestartDpcMiniport`` keeps its DPCs across the restart.
public final class RestartDpcExtension: DeviceExtension, @unchecked Sendable {
  /// The DPC the ISR issues (replaced on restart by the buggy twin: C's memset of the struct).
  public nonisolated(unsafe) var completionDpc = StorDpc()
  public let dpcRuns = InterlockedValue(0)
  public required init() {}
}

public protocol RestartDpcDesign: FixtureMiniport where Extension == RestartDpcExtension {
  /// What HwStorAdapterControl(ScsiRestartAdapter) does to the extension.
  func restart(_ ext: RestartDpcExtension)
}

extension RestartDpcDesign {
  static var dpcRoutine: HwDpcRoutine<RestartDpcExtension> {
    HwDpcRoutine("CompletionDpc") { _, ext, _, _ in
      ext.dpcRuns.increment()
      return true
    }
  }

  public func initialize(_ ext: RestartDpcExtension) -> Bool {
    ext.port.enablePassiveInitialization(
      HwPassiveInitializeRoutine<RestartDpcExtension>("PassiveInitialize") { ext in
        ext.port.initializeDpc(ext.completionDpc, Self.dpcRoutine)
        return true
      })
  }

  public func startIo(_ ext: RestartDpcExtension, _ request: StorRequest) -> Bool {
    request.srbStatus = .success
    ext.port.requestComplete(request)
    return true
  }

  public func interrupt(_ ext: RestartDpcExtension) -> Bool {
    ext.port.issueDpc(ext.completionDpc)
    return true
  }

  public func adapterControl(
    _ ext: RestartDpcExtension, _ type: AdapterControlType, _ p: inout AdapterControlParameters
  ) -> AdapterControlStatus {
    switch type {
    case .querySupportedControlTypes:
      p.supported = [.querySupportedControlTypes, .stopAdapter, .restartAdapter]
    case .restartAdapter:
      restart(ext)
    default: break
    }
    return .success
  }
}

public final class RacyRestartDpcMiniport: RestartDpcDesign, @unchecked Sendable {
  public typealias Extension = RestartDpcExtension
  public let initializationData = MiniportInitializationData(name: "restart-uninitialised-dpc")
  public init() {}
  public func restart(_ ext: RestartDpcExtension) {
    // The bug: the STOR_DPC is zeroed with the rest of the state, and nothing initialises it again.
    ext.completionDpc = StorDpc()
  }
}

public final class RestartDpcMiniport: RestartDpcDesign, @unchecked Sendable {
  public typealias Extension = RestartDpcExtension
  public let initializationData = MiniportInitializationData(name: "restart-uninitialised-dpc-fixed")
  public init() {}
  public func restart(_ ext: RestartDpcExtension) {}
}
