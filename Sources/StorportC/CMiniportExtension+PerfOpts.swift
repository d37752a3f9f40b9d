import CStorportMiniport
import Storport

#if canImport(Glibc)
  import Glibc
#endif

/// MSI information, PERF_CONFIGURATION_DATA and STARTIO_PERFORMANCE_PARAMETERS for a C miniport.
extension CMiniportExtension {
  // MARK: - Interrupts and performance options

  /// `StorPortGetMSIInfo`: the granted message's address and data (STOR_STATUS_INVALID_PARAMETER
  /// past the last one — how miniports count their messages).
  func messageInformation(_ id: UInt32, _ out: UnsafeMutableRawPointer?) -> StorStatus {
    guard
      let out = output(
        UInt64(UInt(bitPattern: out)), MemoryLayout<MESSAGE_INTERRUPT_INFORMATION>.size, "StorPortGetMSIInfo")
    else { return .invalidParameter }
    guard let device = miniport.device, id < device.messageCount else { return .invalidParameter }
    var info = MESSAGE_INTERRUPT_INFORMATION()
    info.MessageId = id
    info.MessageData = 0x4000 | id
    info.MessageAddress.QuadPart = 0xFEE0_0000
    info.InterruptVector = 0x60 + id
    info.InterruptLevel = 5
    info.InterruptMode = Latched
    out.storeBytes(of: info, as: MESSAGE_INTERRUPT_INFORMATION.self)
    return .success
  }

  /// `StorPortInitializePerfOpts(HwDeviceExtension, Query, PerfConfigData)`.
  func initializePerfOpts(query: Bool, _ out: UnsafeMutableRawPointer?) -> StorStatus {
    guard
      let out = output(
        UInt64(UInt(bitPattern: out)), MemoryLayout<PERF_CONFIGURATION_DATA>.size,
        "StorPortInitializePerfOpts")
    else { return .invalidParameter }
    let c = out.loadUnaligned(as: PERF_CONFIGURATION_DATA.self)
    var d = PerfConfigurationData()
    d.version = c.Version
    d.size = c.Size
    d.flags = StorPerfFlags(rawValue: c.Flags)
    d.concurrentChannels = c.ConcurrentChannels
    d.firstRedirectionMessageNumber = c.FirstRedirectionMessageNumber
    d.lastRedirectionMessageNumber = c.LastRedirectionMessageNumber
    d.deviceNode = c.DeviceNode
    let status = port.initializePerfOpts(query: query, &d)
    if query {
      var r = c
      r.Flags = d.flags.rawValue
      r.Version = d.version
      out.storeBytes(of: r, as: PERF_CONFIGURATION_DATA.self)
    }
    return status
  }

  /// `StorPortGetStartIoPerfParams(HwDeviceExtension, Srb, StartIoPerfParams)`.
  func startIoPerfParams(srb: UnsafeMutableRawPointer?, _ out: UnsafeMutableRawPointer?) -> StorStatus {
    guard let srb, isWritable(out, MemoryLayout<STARTIO_PERFORMANCE_PARAMETERS>.size), let out,
      let request = srbPool?.request(ofSrb: srb)
    else {
      CHost.report("StorPortGetStartIoPerfParams with Srb \(CHost.describe(srb)) or a NULL parameter block")
      return .invalidParameter
    }
    var p = out.loadUnaligned(as: STARTIO_PERFORMANCE_PARAMETERS.self)
    guard p.Size >= UInt32(MemoryLayout<STARTIO_PERFORMANCE_PARAMETERS>.size) else {
      return .invalidParameter
    }
    let params = port.getStartIoPerfParams(request)
    p.MessageNumber = params.messageNumber
    p.ChannelNumber = params.channelNumber
    out.storeBytes(of: p, as: STARTIO_PERFORMANCE_PARAMETERS.self)
    return .success
  }

  /// The adapter's processors as an affinity mask (group 0).
  var processorMask: UInt64 {
    let n = port.processorCount
    return n >= 64 ? ~0 : (UInt64(1) << UInt64(n)) &- 1
  }
}
