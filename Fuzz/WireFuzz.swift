// libFuzzer entry for the network front ends' parsers: the iSCSI connection (before and after
// login) and the NBD session (handshake and transmission), fed the input in pieces whose sizes
// come from the input itself. Built outside SwiftPM by scripts/fuzz.sh with -sanitize=fuzzer
// from the wire files of Sources/StorportServe (they import nothing but the C shim's CRC32C).
// A trap, an out-of-bounds access or a leak ends the run with the input that caused it.

let target = ISCSITargetConfiguration(name: "iqn.2026-11.fuzz:disk", address: "127.0.0.1:3260,1", luns: [0])

/// A login that succeeds, so half the inputs reach the full feature phase.
let login: [UInt8] = {
  var p = ISCSIPDU(.loginRequest)
  p.header[0] = 0x43
  p.flags = 0x80 | 1 << 2 | 3
  p.data = ISCSIText.encode([("InitiatorName", "iqn.x:fuzz"), ("TargetName", target.name)])
  return ISCSIFraming(maximumReceiveSegment: 8192).encode(p)
}()

let nbdExports = [NBDSession.Export(name: "disk", sizeBytes: 1 << 20, blockSize: 512)]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  guard size > 1 else { return 0 }
  let input = Array(UnsafeBufferPointer(start: data, count: size))
  let mode = input[0] % 4
  let body = Array(input.dropFirst())
  // Piece sizes: the low bits of a byte of the input, at least 1.
  let step = Int(input[0] >> 2) + 1
  switch mode {
  case 0, 1:
    var c = ISCSIConnection(target: target)
    if mode == 1 { _ = c.receive(login) }
    var i = 0
    while i < body.count && !c.isClosed {
      let events = c.receive(Array(body[i..<min(body.count, i + step)]))
      // Give every command a result, so completion paths run too.
      for case .execute(let task) in events {
        _ = c.complete(task, ISCSITaskResult(status: task.cdb[0] & 1 == 0 ? 0 : 2, dataIn: [UInt8](repeating: 7, count: min(task.expectedLength, 4096))))
      }
      i += step
    }
  default:
    var s = NBDSession(exports: nbdExports)
    if mode == 3 {
      // A client that completed the handshake: flags, then NBD_OPT_EXPORT_NAME "disk".
      var hello: [UInt8] = [0, 0, 0, 3]
      hello += [0x49, 0x48, 0x41, 0x56, 0x45, 0x4F, 0x50, 0x54, 0, 0, 0, 1, 0, 0, 0, 4]
      hello += Array("disk".utf8)
      _ = s.receive(hello)
    }
    var i = 0
    while i < body.count && !s.isClosed {
      _ = s.receive(Array(body[i..<min(body.count, i + step)]))
      i += step
    }
  }
  return 0
}
