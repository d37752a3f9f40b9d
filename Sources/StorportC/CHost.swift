import CStorportMiniport
import Foundation
import Storport

#if canImport(Glibc)
  import Glibc
#endif

/// The host side of storport_host.h: every routine a C miniport calls arrives here as a
/// routine or type code, the `HwDeviceExtension` it passed and its arguments unpacked into
/// words, and is carried out by the checked services of the adapter that extension belongs to.
///
/// An argument the routine does not accept (a pointer that is not an extension, request block
/// or object the port gave out; an unknown code) is an INVALID_PARAMETER violation naming the
/// routine and the value, and the call does nothing — never a crash of the host.
enum CHost {
  /// Installs the entry points (idempotent; done before any C miniport is loaded).
  static let install: Void = {
    var host = StorportHost(
      notification: { type, ext, words in CHost.notification(type, ext, words) },
      extended: { code, ext, words in CHost.extended(code, ext, words) },
      routine: { routine, ext, words in CHost.routine(routine, ext, words) })
    storport_host_install(&host)
    RaceDetector.installLocationResolver { CSymbolizer.shared.resolve($0) }
  }()

  // MARK: - Helpers

  /// The extension a routine names, or nil after reporting the bad pointer.
  @inline(__always)
  static func extensionNamed(_ pointer: UnsafeMutableRawPointer?, _ routine: @autoclosure () -> String)
    -> CMiniportExtension?
  {
    if let ext = CMiniportExtension.from(pointer) { return ext }
    report(
      "\(routine()) called with HwDeviceExtension \(describe(pointer)), which is not a device extension the port allocated"
    )
    return nil
  }

  /// Reports an INVALID_PARAMETER on the adapter whose callback is running (or, outside
  /// callbacks, on standard error).
  static func report(_ message: String) {
    if let port = StorPort.current {
      port.reportInvalidParameter(message)
    } else if CMiniportLibrary.recordLoadProblem("INVALID_PARAMETER: " + message) {
      return
    } else {
      note("INVALID_PARAMETER: " + message)
      standardError("storport: INVALID_PARAMETER: \(message)\n")
    }
  }

  static func standardError(_ text: String) {
    FileHandle.standardError.write(Data(text.utf8))
  }

  static func describe(_ p: UnsafeMutableRawPointer?) -> String {
    guard let p else { return "NULL" }
    return "0x" + String(UInt(bitPattern: p), radix: 16)
  }

  @inline(__always)
  static func pointer(_ w: UInt64) -> UnsafeMutableRawPointer? {
    UnsafeMutableRawPointer(bitPattern: UInt(w))
  }

  /// Messages the miniport printed (DbgPrint, StorPortDebugPrint) and reports made outside
  /// any adapter; the last 1,000.
  static let diagnostics = Locked<[String]>([])

  static let printToStandardError = getenv("STORPORT_DEBUG_PRINT") != nil

  static func note(_ line: String) {
    diagnostics.withLock {
      $0.append(line)
      if $0.count > 1000 { $0.removeFirst($0.count - 1000) }
    }
    if printToStandardError { standardError("miniport: \(line)\n") }
  }

  /// Writes a LONG success flag (the `pSucc` of the inline wrappers).
  static func storeSuccess(_ ext: CMiniportExtension, _ w: UInt64, _ ok: Bool, _ routine: String) {
    guard w != 0, let p = ext.output(w, 4, routine) else { return }
    p.storeBytes(of: Int32(ok ? 1 : 0), as: Int32.self)
  }

  // MARK: - StorPortNotification

  static func notification(
    _ type: UInt32, _ extPointer: UnsafeMutableRawPointer?, _ words: UnsafePointer<UInt64>
  ) {
    var name: String { "StorPortNotification(\(notificationName(type)))" }
    guard let ext = extensionNamed(extPointer, name) else { return }
    let port = ext.port
    switch Int(type) {
    case Int(RequestComplete.rawValue):
      ext.complete(srb: pointer(words[0]))
    case Int(NextRequest.rawValue):
      port.notification(.nextRequest)
    case Int(NextLuRequest.rawValue):
      port.notification(.nextLuRequest)
    case Int(ResetDetected.rawValue):
      port.notification(.resetDetected())
    case Int(BusChangeDetected.rawValue):
      port.notification(.busChangeDetected())
    case Int(LinkUp.rawValue):
      port.notification(.linkUp)
    case Int(LinkDown.rawValue):
      port.notification(.linkDown)
    case Int(RequestTimerCall.rawValue):
      let timer = ext.timer(words[0])
      if words[0] != 0 && timer == nil { return }  // not the miniport's code: reported
      port.requestTimerCall(timer, microseconds: UInt32(truncatingIfNeeded: words[1]))
    case Int(QueryTickCount.rawValue):
      var ticks: UInt64 = 0
      port.notification(.queryTickCount(&ticks))
      ext.output(words[0], 8, name)?.storeBytes(of: ticks, as: UInt64.self)
    case Int(EnablePassiveInitialization.rawValue):
      guard let routine = ext.passiveRoutine(words[0]) else {
        if words[0] == 0 {
          report("StorPortEnablePassiveInitialization with a NULL HwPassiveInitializeRoutine")
        }
        storeSuccess(ext, words[1], false, name)
        return
      }
      storeSuccess(ext, words[1], port.enablePassiveInitialization(routine), name)
    case Int(InitializeDpc.rawValue):
      ext.initializeDpc(pointer(words[0]), routine: words[1])
    case Int(IssueDpc.rawValue):
      guard let dpc = ext.dpcObject(pointer(words[0]), "StorPortIssueDpc") else {
        storeSuccess(ext, words[3], false, name)
        return
      }
      storeSuccess(ext, words[3], port.issueDpc(dpc, UInt(words[1]), UInt(words[2])), name)
    case Int(AcquireSpinLock.rawValue):
      _ = ext.acquireSpinLock(
        kind: words[0], context: pointer(words[1]), handle: pointer(words[2]), extended: false)
    case Int(ReleaseSpinLock.rawValue):
      ext.releaseSpinLock(handle: pointer(words[0]))
    default:
      // The port's own handling of codes it does not implement (rule 71 for undocumented ones).
      report("\(name): this notification type is not supported by this host")
    }
  }

  static func notificationName(_ type: UInt32) -> String {
    switch Int(type) {
    case 0: return "RequestComplete"
    case 1: return "NextRequest"
    case 2: return "NextLuRequest"
    case 3: return "ResetDetected"
    case 6: return "RequestTimerCall"
    case 7: return "BusChangeDetected"
    case 8: return "WMIEvent"
    case 9: return "WMIReregister"
    case 10: return "LinkUp"
    case 11: return "LinkDown"
    case 12: return "QueryTickCount"
    case 0x1000: return "EnablePassiveInitialization"
    case 0x1001: return "InitializeDpc"
    case 0x1002: return "IssueDpc"
    case 0x1003: return "AcquireSpinLock"
    case 0x1004: return "ReleaseSpinLock"
    case 0x1005: return "StateChangeDetectedCall"
    case 0x1006: return "IoTargetRequestServiceTime"
    case 0x1007: return "AsyncNotificationDetected"
    default: return "0x" + String(type, radix: 16)
    }
  }
}
