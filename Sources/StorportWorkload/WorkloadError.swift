import StorportDevices

/// Why a workload could not run, or failed in a way that is not an I/O figure.
public enum WorkloadError: Error, CustomStringConvertible {
  /// A value the user can change (exit status 2).
  case option(OptionError)
  /// The target could not be set up (the path and the system's message).
  case store(BlockStoreError)
  /// The target no longer holds what its verify state says (exit status 1).
  case verifyFailed(String)
  /// The adapter did not reach the running state.
  case adapterFailed(String)

  public var description: String {
    switch self {
    case .option(let e): return e.description
    case .store(let e): return e.description
    case .verifyFailed(let s): return "VERIFY FAILED: \(s)"
    case .adapterFailed(let s): return s
    }
  }

  /// The exit status a front end uses: 2 for a bad option, 1 otherwise.
  public var exitStatus: Int32 {
    if case .option = self { return 2 }
    return 1
  }
}
