import Storport

/// What every fixture miniport shares: a full-duplex physical adapter that takes any request.
public protocol FixtureMiniport: Miniport {}

extension FixtureMiniport {
  public func findAdapter(_ ext: Extension, _ c: inout PortConfiguration) -> FindAdapterResult {
    c.synchronizationModel = .fullDuplex
    c.numberOfPhysicalBreaks = 32
    c.maximumTransferLength = 1 << 20
    return .found
  }
}
