import Synchronization

/// Where an adapter is in its life (spec §8, D12–D13).
public enum AdapterState: UInt8, Sendable, CustomStringConvertible {
  case attached, starting, running, stopping, stopped, failed, removed

  public var description: String {
    switch self {
    case .attached: return "attached"
    case .starting: return "starting"
    case .running: return "running"
    case .stopping: return "stopping"
    case .stopped: return "stopped"
    case .failed: return "failed"
    case .removed: return "removed"
    }
  }
}
