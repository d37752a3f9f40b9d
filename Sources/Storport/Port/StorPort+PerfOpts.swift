extension StorPort {
  /// `StorPortInitializePerfOpts(HwDeviceExtension, Query, PerfConfigData)`.
  /// Query fills `flags` with the supported set (rule 60). Set applies the flags; an unknown
  /// flag or one without its prerequisite is UNSUCCESSFUL, NULL data INVALID_PARAMETER (61);
  /// outside HwStorInitialize and the passive-initialize routine UNSUCCESSFUL (62, D9).
  public func initializePerfOpts(
    query: Bool, _ data: UnsafeMutablePointer<PerfConfigurationData>?
  ) -> StorStatus {
    guard let data else { return .invalidParameter }
    guard let p = serviceContext("StorPortInitializePerfOpts") else { return .invalidDeviceRequest }
    guard let role = p.currentFrame?.role, role == .initialize || role == .passiveInitialize else {
      return .unsuccessful
    }
    let supported = StorPerfFlags.supported(version: data.pointee.version)
    if query {
      data.pointee.flags = supported
      return .success
    }
    let flags = data.pointee.flags
    guard supported.isSuperset(of: flags), flags.missingPrerequisite == nil else { return .unsuccessful }
    if flags.contains(.concurrentChannels) && data.pointee.concurrentChannels == 0 { return .unsuccessful }
    perfFlags = flags
    let channels = flags.contains(.concurrentChannels) ? Int(data.pointee.concurrentChannels) : 0
    locks.channels =
      channels > 1
      ? (0..<channels).map { SpinLock(kind: .startIoLock, name: "Channel\($0)") } : []
    trace(on: p, .notification, "PerfOpts", a: UInt64(flags.rawValue), b: UInt64(channels))
    return .success
  }

  /// Convenience form of `initializePerfOpts` for non-NULL data.
  public func initializePerfOpts(query: Bool, _ data: inout PerfConfigurationData) -> StorStatus {
    withUnsafeMutablePointer(to: &data) { initializePerfOpts(query: query, $0) }
  }

  /// The perf flags in force.
  var perfOptions: StorPerfFlags { perfFlags }
}
