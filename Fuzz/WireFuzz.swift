// libFuzzer entry for the network front ends' parsers: the iSCSI connection (before and after
// login) and the NBD session (handshake and transmission), fed the input in pieces whose sizes
// come from the input itself. Built outside SwiftPM by scripts/fuzz.sh with -sanitize=fuzzer
// from the wire files of Sources/StorportServe (they import the C shim's CRC32C and swift-nio's
// NIOCore, linked from the package's debug build).
// A trap, an out-of-bounds access or a leak ends the run with the input that caused it.

let target = ISCSITargetConfiguration(name: "iqn.2026-11.fuzz:disk", address: "127.0.0.1:3260,1", luns: [0])

/// A login that succeeds, so most inputs reach the full feature phase; with `tsih`, one that
/// joins that session as connection `cid` (its leading login offers two connections).
func login(tsih: UInt16 = 0, cid: UInt16 = 0) -> [UInt8] {
  var p = ISCSIPDU(.loginRequest)
  p.header[0] = 0x43
  p.flags = 0x80 | 1 << 2 | 3
  p.setBE16(14, tsih)
  p.setBE16(20, cid)
  p.data = ISCSIText.encode([
    ("InitiatorName", "iqn.x:fuzz"), ("TargetName", target.name), ("MaxConnections", "2"),
  ])
  return ISCSIFraming(maximumReceiveSegment: 8192).encode(p)
}

/// Every command run gets a result, so the completion paths run too: those started by one
/// piece finish together (one batch, as the server's loop completes them), a CDB's last byte
/// choosing the data's length up to 12 KiB.
func finish(_ c: inout ISCSIConnection, _ events: [ISCSIConnection.Event]) {
  var done: [(ISCSITaskHeader, ISCSITaskResult)] = []
  for case .execute(let task) in events {
    let length = min(task.expectedLength, Int(task.cdb.last ?? 0) * 48)
    done.append(
      (
        task.header,
        ISCSITaskResult(status: task.cdb[0] & 1 == 0 ? 0 : 2, dataIn: [UInt8](repeating: 7, count: length))
      ))
  }
  if !done.isEmpty { _ = c.complete(done) }
}

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
  case 0:
    var c = ISCSIConnection(target: target)
    var i = 0
    while i < body.count && !c.isClosed {
      let piece = Array(body[i..<min(body.count, i + step)])
      let events = c.receive(piece)
      // Some pieces are followed by an abort of LUN 0's tasks (or every LU's), as this nexus's
      // task management or another nexus's reset makes it, before the commands they started
      // finish.
      if piece[0] == 0xA5 {
        let bits = piece.count > 1 ? piece[1] : 0
        _ = c.abort(bits & 1 == 1 ? nil : 0, by: bits & 2 == 0 ? .anotherNexus : .thisNexus)
      }
      finish(&c, events)
      i += step
    }
  case 1:
    // A session of two connections: the pieces go to one or the other (a bit of each piece's
    // first byte), and the commands waiting for their CmdSN's turn are handed out after each.
    var a = ISCSIConnection(target: target, tsih: 1, sessions: nil)
    _ = a.receive(login())
    let session = a.session
    var b = ISCSIConnection(target: target, tsih: 2, sessions: { $0 == 1 ? session : nil })
    _ = b.receive(login(tsih: 1, cid: 1))
    var i = 0
    while i < body.count && !(a.isClosed && b.isClosed) {
      let piece = Array(body[i..<min(body.count, i + step)])
      if piece[0] & 0x80 == 0 { finish(&a, a.receive(piece)) } else { finish(&b, b.receive(piece)) }
      session.deliverWaiting { cid, pdu in
        if cid == a.cid { finish(&a, a.handle(pdu)) } else if cid == b.cid { finish(&b, b.handle(pdu)) }
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
