import ArgumentParser
import Storport
import StorportServe
import StorportWorkload

#if canImport(Glibc)
  import Glibc
#endif

/// `storport serve`: an adapter exported to real clients — an NBD server (newstyle fixed) on
/// 127.0.0.1:10809 by default. Every request goes through the adapter (BuildIo → StartIo →
/// device → interrupt → DPC → completion), checked mode on. Runs until SIGINT / SIGTERM, then
/// closes connections, drains, flushes and prints the verifier's verdict.
struct ServeCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "serve",
    abstract: "Export an adapter over NBD (nbd://127.0.0.1:10809/storport) until SIGINT / SIGTERM.")

  @Option(help: "NBD listening address HOST:PORT (default 127.0.0.1:10809; loopback unless told otherwise).")
  var nbd: String?
  @Option(help: "The export's name (default storport).")
  var export: String?
  @Option(help: "nvme (default) | ramdisk | PATH.so (a C miniport).")
  var miniport: String?
  @Option(help: "Capacity, k/m/g/t (default 256m).")
  var size: String?
  @Option(help: "A file or block device as the disk instead of RAM.")
  var filename: String?
  @Option(name: .customLong("logical-block-size"), help: "512 or 4096 (default 4096).")
  var logicalBlockSize: String?
  @Flag(help: "Export read-only.")
  var readonly = false
  @Flag(help: "Turn the verifier off (unchecked mode).")
  var unchecked = false

  init() {}

  struct Values {
    var options: WorkloadOptions
    var host: String
    var port: Int
    var exportName: String
  }

  func values() throws(OptionError) -> Values {
    var o = WorkloadOptions()
    o.miniport = .nvme
    if let miniport {
      if let m = WorkloadOptions.MiniportKind(rawValue: miniport) {
        o.miniport = m
      } else {
        o.miniportLibrary = try MiniportPath.library(miniport)
      }
    }
    if let size { o.sizeBytes = try OptionValue.size(size, option: "--size") }
    if let filename { o.target = .file(path: filename, direct: false) }
    if let logicalBlockSize {
      o.logicalBlockSize = try OptionValue.integer(
        logicalBlockSize, option: "--logical-block-size", in: 512...4096)
    }
    o.readOnly = readonly
    o.verifier = unchecked ? .unchecked : .default
    o.blockSize = o.effectiveLogicalBlockSize
    try o.validate()
    let address = nbd ?? "127.0.0.1:10809"
    guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]),
      (0...65535).contains(port), colon > address.startIndex
    else { throw OptionError("--nbd", address, "HOST:PORT, e.g. 127.0.0.1:10809") }
    let name = export ?? "storport"
    guard !name.isEmpty, name.utf8.count <= 4096 else {
      throw OptionError("--export", name, "a name of 1…4096 bytes")
    }
    return Values(options: o, host: String(address[..<colon]), port: port, exportName: name)
  }

  mutating func validate() throws { try checked { _ = try values() } }

  func run() throws {
    let v = try checked { try values() }
    HostInfo.installStopSignals()
    let rig: WorkloadRig
    do { rig = try WorkloadRig(v.options) } catch { throw CommandExit(error.exitStatus, error.description) }
    guard rig.adapter.state == .running else {
      rig.runtime.shutdown()
      throw CommandExit(
        1, "the adapter did not start (\(rig.adapter.state)): \(rig.runtime.verifier.verdict)")
    }
    let disk = AdapterDisk(
      adapter: rig.adapter, blockSize: rig.store.blockSize, blockCount: rig.store.blockCount)
    let server = NBDServer(exports: [
      NBDServer.Export(name: v.exportName, disk: disk, readOnly: v.options.readOnly)
    ])
    let port: Int
    do { port = try server.start(host: v.host, port: v.port) } catch {
      rig.runtime.shutdown()
      throw CommandExit(1, "cannot listen on \(v.host):\(v.port): \(error)")
    }
    Terminal.out(
      "serving \(v.options.miniportName) (\(disk.sizeBytes) bytes, \(disk.blockSize)-byte blocks)\n"
        + "  NBD: nbd://\(v.host):\(port)/\(v.exportName)\n  stop with Ctrl-C (SIGINT) or SIGTERM\n")
    while HostInfo.stopSignal == 0 { usleep(100_000) }
    server.stop()
    // Drain: let the adapter finish what the clients sent, then flush file backings.
    let done = Locked(false)
    disk.flush { _ in done.withLock { $0 = true } }
    rig.runtime.runUntil(timeoutNanoseconds: 10_000_000_000) { done.withLock { $0 } }
    let verdict = rig.runtime.verifier.verdict
    rig.runtime.shutdown()
    Terminal.out("stopped; verifier: \(verdict)\n")
  }
}
