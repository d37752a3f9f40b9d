import Storport
import Synchronization

/// Device extension of ``ScriptedMiniport``: a few STOR_DPCs, timer handles and counters that
/// scripted callbacks use.
public final class ScriptedExtension: DeviceExtension, @unchecked Sendable {
  public let dpc = StorDpc()
  public let dpc2 = StorDpc()
  public var timerHandle: StorTimerHandle?
  public let counter = InterlockedValue()
  public required init() {}
}

/// A miniport whose entry points run closures supplied by the caller: the fixture the
/// conformance suite uses to put miniport code into every callback context. Set the closures
/// before `start()`; the defaults find a full-duplex physical adapter and complete every
/// request in StartIo with SRB_STATUS_SUCCESS.
public final class ScriptedMiniport: Miniport, @unchecked Sendable {
  public typealias Extension = ScriptedExtension

  public var initializationData: MiniportInitializationData
  public var onFindAdapter: (ScriptedExtension, inout PortConfiguration) -> FindAdapterResult = { _, c in
    c.synchronizationModel = .fullDuplex
    c.numberOfPhysicalBreaks = 32
    c.maximumTransferLength = 1 << 20
    return .found
  }
  public var onInitialize: (ScriptedExtension) -> Bool = { _ in true }
  public var onBuildIo: (ScriptedExtension, StorRequest) -> Bool = { _, _ in true }
  public var onStartIo: (ScriptedExtension, StorRequest) -> Bool = { ext, r in
    r.srbStatus = .success
    ext.port.requestComplete(r)
    return true
  }
  public var onInterrupt: (ScriptedExtension) -> Bool = { _ in true }
  public var onMessageInterrupt: (ScriptedExtension, UInt32) -> Bool = { _, _ in true }
  public var onResetBus: (ScriptedExtension, UInt32) -> Bool = { _, _ in true }
  public var onAdapterControl:
    (ScriptedExtension, AdapterControlType, inout AdapterControlParameters) -> AdapterControlStatus = {
      _, t, p in
      if t == .querySupportedControlTypes {
        p.supported = [.querySupportedControlTypes, .stopAdapter, .restartAdapter]
      }
      return .success
    }

  public var onUnitControl:
    (ScriptedExtension, UnitControlType, inout UnitControlParameters) -> UnitControlStatus = {
      _, t, p in
      if t == .querySupportedUnitControlTypes { p.supported = [.querySupportedUnitControlTypes] }
      return .success
    }

  public init(name: String = "scripted", isVirtual: Bool = false, hasBuildIo: Bool = false) {
    initializationData = MiniportInitializationData(name: name, isVirtual: isVirtual, hasBuildIo: hasBuildIo)
  }

  public func findAdapter(_ ext: ScriptedExtension, _ c: inout PortConfiguration) -> FindAdapterResult {
    onFindAdapter(ext, &c)
  }
  public func initialize(_ ext: ScriptedExtension) -> Bool { onInitialize(ext) }
  public func buildIo(_ ext: ScriptedExtension, _ r: StorRequest) -> Bool { onBuildIo(ext, r) }
  public func startIo(_ ext: ScriptedExtension, _ r: StorRequest) -> Bool { onStartIo(ext, r) }
  public func interrupt(_ ext: ScriptedExtension) -> Bool { onInterrupt(ext) }
  public func messageSignaledInterrupt(_ ext: ScriptedExtension, messageId: UInt32) -> Bool {
    onMessageInterrupt(ext, messageId)
  }
  public func resetBus(_ ext: ScriptedExtension, pathId: UInt32) -> Bool { onResetBus(ext, pathId) }
  public func adapterControl(
    _ ext: ScriptedExtension, _ t: AdapterControlType, _ p: inout AdapterControlParameters
  ) -> AdapterControlStatus {
    onAdapterControl(ext, t, &p)
  }
  public func unitControl(
    _ ext: ScriptedExtension, _ t: UnitControlType, _ p: inout UnitControlParameters
  ) -> UnitControlStatus {
    onUnitControl(ext, t, &p)
  }
}
