import ArgumentParser
import Prometheus
import Storport
import StorportServe
import StorportWorkload

#if canImport(Glibc)
  import Glibc
#endif

/// `storport serve`: an adapter exported to real clients — an iSCSI target (RFC 7143) on
/// 127.0.0.1:3260 and an NBD server (newstyle fixed) on 127.0.0.1:10809 by default. Every
/// request goes through the adapter (BuildIo → StartIo → device → interrupt → DPC →
/// completion), checked mode on. Runs until SIGINT / SIGTERM, then closes connections, drains,
/// flushes and prints the verifier's verdict.
struct ServeCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "serve",
    abstract:
      "Export an adapter over iSCSI (iscsi://127.0.0.1:3260/TARGET/0) and NBD (nbd://127.0.0.1:10809/storport) until SIGINT / SIGTERM."
  )

  @Option(
    parsing: .unconditional, help: "The address both front ends listen on (default 127.0.0.1: loopback only)."
  )
  var listen: String?
  @Option(parsing: .unconditional, help: "iSCSI listening address HOST:PORT, or off (default LISTEN:3260).")
  var iscsi: String?
  @Option(parsing: .unconditional, help: "NBD listening address HOST:PORT, or off (default LISTEN:10809).")
  var nbd: String?
  @Option(
    parsing: .unconditional,
    help:
      "Serve Prometheus metrics (GET /metrics) and a status page (GET /status) on HOST:PORT (default: off).")
  var metrics: String?
  @Option(
    name: .customLong("chap-file"), parsing: .unconditional,
    help: """
      iSCSI CHAP credentials: lines 'initiator USER SECRET' and optionally 'target USER SECRET' \
      (mutual). Or STORPORT_CHAP_USER / STORPORT_CHAP_SECRET (and _TARGET_) in the environment; \
      never on the command line.
      """)
  var chapFile: String?
  @Option(
    name: .customLong("allow-initiator"), parsing: .unconditionalSingleValue,
    help: "An initiator name admitted to the iSCSI target (repeatable; default: any).")
  var allowInitiator: [String] = []
  @Option(
    parsing: .unconditional,
    help:
      "iSCSI LUN 1: ramdisk (default: the RAM-disk sample miniport on its own RAM backing, --size) or off.")
  var lun1: String?
  @Option(
    name: .customLong("nop-interval"), parsing: .unconditional,
    help:
      "Seconds of silence after which the iSCSI target pings a connection (NOP-In); unanswered for as long again, it is closed. 1…3600, or 0: never (default 30)."
  )
  var nopInterval: String?
  @Option(
    name: .customLong("target-name"), parsing: .unconditional,
    help: "The iSCSI target's name (default \(ServeCommand.defaultTargetName)).")
  var targetName: String?
  @Option(parsing: .unconditional, help: "The export's name (default storport).")
  var export: String?
  @Option(parsing: .unconditional, help: "nvme (default) | ramdisk | PATH.so (a C miniport).")
  var miniport: String?
  @Option(parsing: .unconditional, help: "Capacity, k/m/g/t (default 256m).")
  var size: String?
  @Option(parsing: .unconditional, help: "A file or block device as the disk instead of RAM.")
  var filename: String?
  @Option(
    name: .customLong("logical-block-size"), parsing: .unconditional, help: "512 or 4096 (default 4096).")
  var logicalBlockSize: String?
  @Flag(help: "Export read-only.")
  var readonly = false
  @Flag(help: "Turn the verifier off (unchecked mode).")
  var unchecked = false
  @OptionGroup var device: DeviceModelOptions
  @Option(
    parsing: .unconditional, help: "Processors of LUN 0's adapter, 1…64 (default: min(host cores, 64)).")
  var processors: String?
  @Option(
    name: .customLong("spin-us"), parsing: .unconditional,
    help:
      "µs an idle processor spins before it parks, 0…1000000 (default 10: requests from the network come spaced; a parked one is lent to the front end, which runs its requests on it), or poll (never park, never lent)."
  )
  var spinUs: String?

  init() {}

  static let defaultTargetName = "iqn.2026-11.org.swift-storport:storport"

  struct Values {
    var options: WorkloadOptions
    /// nil: that front end is off.
    var nbd: (host: String, port: Int)?
    var iscsi: (host: String, port: Int)?
    var exportName: String
    var targetName: String
    /// LUN 1's adapter (the RAM-disk sample), or nil.
    var lun1: WorkloadOptions?
    var chap: ChapSecrets
    var allowedInitiators: [String]?
    /// Seconds of silence before the target pings (nil: never).
    var pingInterval: Int?
    /// The metrics endpoint, or nil.
    var metrics: (host: String, port: Int)?
  }

  /// HOST:PORT (or off), with `fallback` when not given.
  static func address(_ text: String?, option: String, fallback: (String, Int)) throws(OptionError) -> (
    host: String, port: Int
  )? {
    guard let text else { return fallback }
    if text == "off" { return nil }
    guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
      (0...65535).contains(port), colon > text.startIndex
    else {
      throw OptionError(
        option, text, "HOST:PORT (e.g. 127.0.0.1:\(fallback.1) or [::1]:\(fallback.1)) or off")
    }
    var host = String(text[..<colon])
    // An IPv6 address in brackets, as in a URL: the brackets are not part of it.
    if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
    guard !host.isEmpty else { throw OptionError(option, text, "HOST:PORT with a host") }
    return (host, port)
  }

  /// `host` as a URL writes it (an IPv6 address in brackets).
  static func urlHost(_ host: String) -> String {
    host.contains(":") ? "[\(host)]" : host
  }

  /// Every option parsed and checked; a value out of range is quoted as the user typed it.
  func values() throws(OptionError) -> Values {
    do { return try parsedValues() } catch { throw error.quoting(typed) }
  }

  /// The option text as the user typed it (`--size 4k` quoted as '4k', not '4096').
  var typed: [String: String] {
    var t: [String: String] = [:]
    for (name, value) in [
      ("--size", size), ("--logical-block-size", logicalBlockSize), ("--processors", processors),
      ("--stuck-ms", device.stuckMs), ("--fault-ppm", device.faultPpm),
      ("--slow-start-ms", device.slowStartMs),
      ("--latency", device.latency), ("--nop-interval", nopInterval), ("--spin-us", spinUs),
    ] {
      if let value { t[name] = value }
    }
    return t
  }

  /// A workload error as the command's exit, quoting option values as typed.
  func commandExit(_ error: WorkloadError, lun: String = "") -> CommandExit {
    if case .option(let e) = error { return CommandExit(2, lun + e.quoting(typed).description) }
    return CommandExit(error.exitStatus, lun + error.description)
  }

  private func parsedValues() throws(OptionError) -> Values {
    var o = WorkloadOptions()
    o.miniport = .nvme
    // The clients are the workload: the generator's own pattern and queue play no part, but
    // its checks see them — reads only for a read-only export (a writable one may create its
    // file), one request so a small disk passes.
    o.pattern = readonly ? .randread : .randrw
    o.iodepth = 1
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
    try device.apply(to: &o)
    o.processors = try processors.map { p throws(OptionError) in
      try OptionValue.integer(p, option: "--processors", in: WorkloadOptions.processorRange)
    }
    // Serving, requests arrive spaced by the network: a processor that spins 50 µs after each
    // burns the CPU the front end needs (measured: 21 µs of server CPU per I/O at 10 µs of
    // spin against 25 µs at 50, no fewer IOPS — docs/serve.md, Performance).
    o.idlePolicy = .spinThenPark(spinNanoseconds: 10_000)
    if let spinUs {
      if spinUs == "poll" {
        o.idlePolicy = .poll
      } else {
        guard let us = UInt64(spinUs), us <= 1_000_000 else {
          throw OptionError("--spin-us", spinUs, "microseconds from 0 to 1000000, or poll")
        }
        o.idlePolicy = .spinThenPark(spinNanoseconds: us * 1000)
      }
    }
    try o.validate()
    let host = listen ?? "127.0.0.1"
    guard !host.isEmpty, !host.contains(":") || host.hasPrefix("[") || host.filter({ $0 == ":" }).count > 1
    else {
      throw OptionError("--listen", host, "an address, e.g. 127.0.0.1 or 0.0.0.0")
    }
    let nbdAddress = try Self.address(nbd, option: "--nbd", fallback: (host, 10809))
    let iscsiAddress = try Self.address(iscsi, option: "--iscsi", fallback: (host, 3260))
    let metricsAddress = try metrics.flatMap { text throws(OptionError) in
      try Self.address(text, option: "--metrics", fallback: (host, 9100))
    }
    guard nbdAddress != nil || iscsiAddress != nil else {
      throw OptionError("--nbd", "off", "at least one front end (--iscsi or --nbd) must stay on")
    }
    let name = export ?? "storport"
    guard !name.isEmpty, name.utf8.count <= 4096 else {
      throw OptionError("--export", name, "a name of 1…4096 bytes")
    }
    let target = targetName ?? Self.defaultTargetName
    guard target.hasPrefix("iqn.") || target.hasPrefix("eui.") || target.hasPrefix("naa."),
      target.utf8.count <= 223,
      target.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-.:".contains($0)) })
    else {
      throw OptionError(
        "--target-name", target, "an iSCSI name: iqn.YYYY-MM.reversed.domain[:id], at most 223 bytes")
    }
    var second: WorkloadOptions? = nil
    switch lun1 ?? "ramdisk" {
    case "off": break
    case "ramdisk":
      if iscsiAddress != nil {
        var r = WorkloadOptions()
        r.miniport = .ramdisk
        r.pattern = o.pattern
        r.iodepth = 1
        r.sizeBytes = o.sizeBytes
        r.logicalBlockSize = o.logicalBlockSize
        r.readOnly = o.readOnly
        r.verifier = o.verifier
        r.idlePolicy = o.idlePolicy
        r.blockSize = r.effectiveLogicalBlockSize
        try r.validate()
        // Both LUNs in RAM must fit together, not each alone.
        let each = o.sizeBytes ?? WorkloadOptions.defaultSizeBytes
        let ram = (o.target == .ram ? each : 0) + (r.sizeBytes ?? each)
        guard ram <= HostInfo.physicalMemoryBytes else {
          throw OptionError(
            "--size", size ?? "\(each)",
            "LUN 0 and LUN 1 in RAM together must fit in this machine's memory (\(HostInfo.physicalMemoryBytes >> 20) MiB); or --lun1 off"
          )
        }
        second = r
      }
    default: throw OptionError("--lun1", lun1 ?? "", "ramdisk or off")
    }
    let ping = try nopInterval.map { v throws(OptionError) in
      try OptionValue.integer(v, option: "--nop-interval", in: 0...3600)
    }
    let chap = try ChapSecrets.load(file: chapFile)
    for name in allowInitiator where name.isEmpty || name.utf8.count > 223 {
      throw OptionError("--allow-initiator", name, "an iSCSI initiator name of 1…223 bytes")
    }
    return Values(
      options: o, nbd: nbdAddress, iscsi: iscsiAddress, exportName: name, targetName: target.lowercased(),
      lun1: second, chap: chap, allowedInitiators: allowInitiator.isEmpty ? nil : allowInitiator,
      pingInterval: ping == 0 ? nil : ping ?? 30, metrics: metricsAddress)
  }

  mutating func validate() throws { try checked { _ = try values() } }

  func run() throws {
    let v = try checked { try values() }
    HostInfo.installStopSignals()
    let rig: WorkloadRig
    do { rig = try WorkloadRig(v.options) } catch { throw commandExit(error) }
    guard rig.adapter.state == .running else {
      rig.runtime.shutdown()
      throw CommandExit(
        1, "the adapter did not start (\(rig.adapter.state)): \(rig.runtime.verifier.verdict)")
    }
    let disk = AdapterDisk(
      adapter: rig.adapter, blockSize: rig.store.blockSize, blockCount: rig.store.blockCount)
    var rigs = [rig]
    var disks = [disk]
    if let second = v.lun1 {
      let r2: WorkloadRig
      do { r2 = try WorkloadRig(second) } catch {
        rig.runtime.shutdown()
        throw commandExit(error, lun: "LUN 1: ")
      }
      guard r2.adapter.state == .running else {
        rig.runtime.shutdown()
        r2.runtime.shutdown()
        throw CommandExit(
          1, "LUN 1's adapter did not start (\(r2.adapter.state)): \(r2.runtime.verifier.verdict)")
      }
      rigs.append(r2)
      disks.append(
        AdapterDisk(adapter: r2.adapter, blockSize: r2.store.blockSize, blockCount: r2.store.blockCount))
    }
    for d in disks { d.readOnly = v.options.readOnly }
    // A file backing's reads, writes and flushes would block the event loop (LUN 1 is RAM).
    if case .file = v.options.target { disks[0].lendsProcessors = false }
    var lines = "serving \(v.options.miniportName) (\(disk.sizeBytes) bytes, \(disk.blockSize)-byte blocks)\n"
    var stops: [() -> Void] = []
    var shutdowns: [() -> Void] = []
    let counting = v.metrics.map { _ in Self.metricsFactory() }
    let serveMetrics = counting.map { ServeMetrics(factory: $0) }
    func fail(_ what: String, _ host: String, _ port: Int, _ error: Error) -> CommandExit {
      stops.forEach { $0() }
      shutdowns.forEach { $0() }
      rigs.forEach { $0.runtime.shutdown() }
      return CommandExit(1, "cannot listen for \(what) on \(host):\(port): \(error)")
    }
    if let a = v.iscsi {
      var luns: [UInt16: AdapterDisk] = [:]
      for (i, d) in disks.enumerated() { luns[UInt16(i)] = d }
      let server = ISCSIServer(
        name: v.targetName, luns: luns, chap: v.chap.initiator, mutualChap: v.chap.target,
        allowedInitiators: v.allowedInitiators, metrics: serveMetrics, pingInterval: v.pingInterval)
      do {
        let port = try server.start(host: a.host, port: a.port)
        let auth =
          v.chap.initiator.map { " (CHAP user \($0.user)\(v.chap.target == nil ? "" : ", mutual"))" } ?? ""
        lines += "  iSCSI: iscsi://\(Self.urlHost(a.host)):\(port)/\(v.targetName)/0\(auth)\n"
        if disks.count > 1 {
          lines +=
            "         iscsi://\(Self.urlHost(a.host)):\(port)/\(v.targetName)/1 (ramdisk, \(disks[1].sizeBytes) bytes)\n"
        }
        stops.append(server.stop)
        shutdowns.append(server.shutdown)
      } catch { throw fail("iSCSI", a.host, a.port, error) }
    }
    if let a = v.nbd {
      let server = NBDServer(
        exports: [
          NBDServer.Export(name: v.exportName, disk: disk, readOnly: v.options.readOnly)
        ], metrics: serveMetrics)
      do {
        let port = try server.start(host: a.host, port: a.port)
        lines += "  NBD: nbd://\(Self.urlHost(a.host)):\(port)/\(v.exportName)\n"
        stops.append(server.stop)
        shutdowns.append(server.shutdown)
      } catch { throw fail("NBD", a.host, a.port, error) }
    }
    if let a = v.metrics, let factory = counting {
      let sources = rigs.enumerated().map { i, r in
        RuntimeMetrics.Source(name: "lun\(i):\(r.adapter.name)", runtime: r.runtime, adapter: r.adapter)
      }
      let pulled = RuntimeMetrics(sources: sources, factory: factory)
      let registry = factory.registry
      let server = MetricsServer(
        pages: MetricsServer.Pages(
          metrics: {
            pulled.refresh()
            return registry.emitToBuffer()
          },
          status: { Self.status(sources) }))
      do {
        let port = try server.start(host: a.host, port: a.port)
        lines += "  metrics: http://\(Self.urlHost(a.host)):\(port)/metrics (status: /status)\n"
        stops.insert(server.shutdown, at: 0)
      } catch { throw fail("metrics", a.host, a.port, error) }
    }
    Terminal.out(lines + "  stop with Ctrl-C (SIGINT) or SIGTERM\n")
    while HostInfo.stopSignal == 0 { usleep(100_000) }
    stops.forEach { $0() }
    // Drain: let each adapter finish what the clients sent, then flush file backings.
    var verdicts: [String] = []
    for (r, d) in zip(rigs, disks) {
      let done = Locked(false)
      d.flush { _ in done.withLock { $0 = true } }
      r.runtime.runUntil(timeoutNanoseconds: 10_000_000_000) { done.withLock { $0 } }
      verdicts.append(r.runtime.verifier.verdict)
      r.runtime.shutdown()
    }
    shutdowns.forEach { $0() }
    // LUN 0's verdict, unless another adapter's failed.
    let verdict = verdicts.first { $0.hasPrefix("FAIL") } ?? verdicts[0]
    Terminal.out("stopped; verifier: \(verdict)\n")
  }

  /// A Prometheus backend for swift-metrics with its own registry, the latency histogram in
  /// buckets from 10 µs to 1 s (the library's default starts at 5 ms, above most I/Os here).
  static func metricsFactory() -> PrometheusMetricsFactory {
    var factory = PrometheusMetricsFactory(registry: PrometheusCollectorRegistry())
    factory.durationHistogramBuckets[ServeMetrics.latencyLabel] = [
      .microseconds(10), .microseconds(25), .microseconds(50), .microseconds(100), .microseconds(250),
      .microseconds(500), .milliseconds(1), .microseconds(2500), .milliseconds(5), .milliseconds(10),
      .milliseconds(25), .milliseconds(100), .seconds(1),
    ]
    return factory
  }

  /// `GET /status`: each adapter's state, requests and the verifier's verdict so far.
  static func status(_ sources: [RuntimeMetrics.Source]) -> String {
    sources.map { s in
      let st = s.adapter.statistics
      return "\(s.name): \(s.adapter.state), \(st.completedRequests) requests completed, "
        + "\(st.outstandingRequests) outstanding; verifier: \(s.runtime.verifier.verdict)\n"
    }.joined()
  }
}
