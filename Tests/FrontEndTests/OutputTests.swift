import Foundation
import StorportBenchmarks
import Testing

@testable import StorportCLI
@testable import StorportWorkload

/// What a fio user reads (issue 6 §4, §6): per-direction figures with counts labelled as
/// counts, virtual time marked, JSON with every option, an interval progress line, partial
/// results after SIGINT / SIGTERM, clear headings and goals.
@Suite struct OutputTests {
  static func jsonObject(in text: String) throws -> [String: Any] {
    let line = try #require(
      text.split(separator: "\n").first { $0.hasPrefix("{") }, "no JSON line in: \(text)")
    return try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
  }

  @Test func jsonRecordsEveryOptionAndBothDirections() throws {
    let r = try CLIProcess.run([
      "bench", "io", "--simulated", "--runtime", "2ms", "--miniport", "nvme", "--rw", "randrw", "--rwmixread",
      "70",
      "--iodepth", "8", "--size", "8m", "--output-format", "json",
    ])
    #expect(r.status == 0, "\(r.err)")
    let o = try Self.jsonObject(in: r.out)
    let options = try #require(o["options"] as? [String: Any])
    for key in [
      "rw", "rwmixread", "bs", "iodepth", "numjobs", "runtime_ns", "size", "logical_block_size", "backing",
      "readonly",
      "verify", "verify_only", "seed", "miniport", "simulated", "processors", "checked", "latency",
      "faults", "trace", "trace_format", "trace_limit", "status_interval_ns",
    ] {
      #expect(options.keys.contains(key), "options lack \(key): \(options.keys.sorted())")
    }
    #expect(
      options["rwmixread"] as? Int == 70 && options["iodepth"] as? Int == 8
        && options["size"] as? Int == 8 << 20)
    #expect(o["time_base"] as? String == "virtual")
    for direction in ["read", "write"] {
      let d = try #require(o[direction] as? [String: Any])
      #expect((d["total_ios"] as? Int ?? 0) > 0, "\(direction) total_ios")
      let percentiles = (d["lat_ns"] as? [String: Any])?["percentile"] as? [String: Any]
      #expect(d["iops"] != nil && d["bw_bytes"] != nil && percentiles?["99.000000"] != nil, "\(d)")
    }
    #expect(o["passed"] as? Bool == true)
  }

  @Test func theTextReportLabelsCountsAndVirtualTime() throws {
    let r = try CLIProcess.run(["bench", "io", "--simulated", "--runtime", "2ms", "--size", "8m"])
    #expect(r.status == 0, "\(r.err)")
    #expect(r.out.contains("read : IOPS="), "\(r.out)")
    #expect(r.out.contains("write: IOPS="), "\(r.out)")
    #expect(r.out.contains(" I/Os ("), "counts are labelled I/Os: \(r.out)")
    #expect(r.out.contains("of virtual time"), "\(r.out)")
    #expect(r.out.contains("target: RAM, 8 MiB = 2048 logical blocks of 4096 bytes"), "\(r.out)")
  }

  @Test func theProgressLineShowsTheLastIntervalsRate() {
    let p = ProgressReporter(isVirtual: false, isTerminal: false)
    p.report(
      Workload.Progress(
        elapsedNanoseconds: 1_000_000_000, readIos: 1000, writeIos: 0, readBytes: 0, writeBytes: 0))
    // 9000 more reads in the next 3 s: 3k IOPS in the interval, not 10000/4 s = 2.5k overall.
    let line = p.line(
      Workload.Progress(
        elapsedNanoseconds: 4_000_000_000, readIos: 10_000, writeIos: 0, readBytes: 0, writeBytes: 0))
    #expect(line.contains("read 3.0k IOPS"), "\(line)")
    #expect(line.contains("(last interval)"))
    #expect(p.interval == ProgressReporter.plainInterval, "plain lines at a low rate when not a terminal")
    #expect(
      ProgressReporter(isVirtual: false, isTerminal: true).interval == ProgressReporter.terminalInterval)
  }

  @Test(arguments: [(SIGINT, Int32(130), "SIGINT"), (SIGTERM, Int32(143), "SIGTERM")])
  func aSignalStopsTheRunAndPrintsPartialResults(signal: Int32, status: Int32, name: String) throws {
    let p = try CLIProcess([
      "bench", "io", "--runtime", "10m", "--processors", "2", "--size", "16m", "--status-interval", "100ms",
    ])
    let progressed = p.waitForStderr(seconds: 60) { $0.contains("IOPS (last interval)") }
    #expect(progressed, "no progress line: \(p.stderr)")
    kill(p.pid, signal)
    #expect(p.wait() == status, "stdout: \(p.stdout) stderr: \(p.stderr)")
    #expect(p.stdout.contains("interrupted by \(name)"), "\(p.stdout)")
    #expect(p.stdout.contains("read : IOPS=") && p.stdout.contains("result:"), "\(p.stdout)")
    #expect(p.stderr.hasSuffix("\n"), "the progress output ends its line")
  }

  @Test func theDemoReportHasItsOwnHeadingAndAlignedColumns() throws {
    let r = try CLIProcess.run(["demo", "--simulated", "--runtime", "2ms"])
    #expect(r.status == 0, "\(r.err)")
    #expect(r.out.contains("storport demo — demonstration adapter"), "\(r.out)")
    #expect(r.out.contains("of virtual time"))
    let rows = r.out.split(separator: "\n").filter { $0.hasPrefix("  Hw") || $0.hasPrefix("  role") }
    #expect(rows.count == 9)
    #expect(Set(rows.map(\.count)).count == 1, "columns line up: \(rows)")
  }

  @Test func benchRuntimeSaysWhetherEachGoalWasMet() {
    let met = BenchmarkResult(
      name: "a", p50: 10, p99: 20, max: 30, baselineName: "b", baselineP50: 5, baselineP99: 10,
      goal: "p50 ≤ 20 ns", met: true)
    let missed = BenchmarkResult(
      name: "c", p50: 100, p99: 200, max: 300, baselineName: "d", baselineP50: 5, baselineP99: 10,
      goal: "p50 ≤ 20 ns",
      met: false)
    let table = BenchmarkResult.table([met, missed])
    #expect(table.contains("goal met?"))
    #expect(table.split(separator: "\n")[1].contains("| met "))
    #expect(table.split(separator: "\n")[2].contains("| MISSED "))
    #expect(missed.json.contains("\"met\":false"))
  }

  @Test func aTargetPathErrorNamesThePathAndTheSystemMessage() throws {
    // A path through a regular file: stat fails with ENOTDIR.
    let r = try CLIProcess.run(["bench", "io", "--filename", "/etc/passwd/disk.img", "--rw", "randread"])
    #expect(r.status == 2)
    #expect(r.err.contains("/etc/passwd/disk.img") && r.err.contains("Not a directory"), "\(r.err)")
    #expect(r.err.split(separator: "\n").count == 1, "one line: \(r.err)")
    // A missing file for a read workload: named, and why nothing is created.
    let m = try CLIProcess.run(["bench", "io", "--filename", "/nonexistent-dir/disk.img", "--rw", "randread"])
    #expect(m.status == 2)
    #expect(m.err.contains("/nonexistent-dir/disk.img") && m.err.contains("never creates files"), "\(m.err)")
  }

  @Test func aRefusedRunTouchesNoFile() throws {
    let target = "/tmp/storport-untouched-\(getpid()).img"
    let trace = "/tmp/storport-untouched-\(getpid()).json"
    unlink(target)
    try Data("keep me".utf8).write(to: URL(fileURLWithPath: trace))
    defer {
      unlink(target)
      unlink(trace)
    }
    // --bs beyond the NVMe miniport's transfer length: refused before the file is created,
    // and the existing trace file keeps its contents.
    let r = try CLIProcess.run([
      "bench", "io", "--miniport", "nvme", "--bs", "256k", "--filename", target, "--size", "64m", "--trace",
      trace,
    ])
    #expect(r.status == 2, "\(r.err)")
    #expect(access(target, F_OK) != 0, "the target was created")
    #expect(try String(contentsOfFile: trace, encoding: .utf8) == "keep me")
    // A run refused after the trace was opened (the target cannot be used) leaves it too.
    let f = try CLIProcess.run([
      "bench", "io", "--filename", "/etc/passwd/x", "--rw", "read", "--trace", trace,
    ])
    #expect(f.status == 2)
    #expect(try String(contentsOfFile: trace, encoding: .utf8) == "keep me")
    // And a trace file that did not exist is not left behind empty.
    let fresh = trace + ".new"
    let g = try CLIProcess.run([
      "bench", "io", "--filename", "/etc/passwd/x", "--rw", "read", "--trace", fresh,
    ])
    #expect(g.status == 2)
    #expect(access(fresh, F_OK) != 0)
  }

  /// Rates are taken over the time to the last completion: with more requests in flight
  /// than the run time lets complete, the figures must still be possible.
  @Test func ratesCoverTheDrain() throws {
    let r = try CLIProcess.run([
      "bench", "io", "--simulated", "--runtime", "100us", "--numjobs", "4", "--iodepth", "256", "--backing",
      "null",
      "--size", "64m", "--rw", "randread", "--json",
    ])
    #expect(r.status == 0, "\(r.err)")
    let o = try Self.jsonObject(in: r.out)
    let duration = try #require(o["duration_ns"] as? Int)
    let read = try #require(o["read"] as? [String: Any])
    let maxLatency = try #require((read["lat_ns"] as? [String: Any])?["max"] as? Int)
    #expect(duration >= maxLatency, "duration \(duration) ns shorter than an I/O's latency \(maxLatency) ns")
    #expect(duration > 100_000, "the drain is included")
  }

  /// `--latency MIN-MAX` spreads the device's latency over the whole range (it was never more
  /// than 1 ms above MIN: the roll, 0…999,999 ns, was taken modulo the range), in virtual time.
  @Test func uniformLatencySpansItsRange() throws {
    let r = try CLIProcess.run([
      "bench", "io", "--simulated", "--seed", "3", "--miniport", "nvme", "--latency", "1000-20000",
      "--runtime",
      "200ms", "--iodepth", "8", "--backing", "null", "--size", "16m", "--rw", "randread", "--json",
    ])
    #expect(r.status == 0, "\(r.err)")
    let o = try Self.jsonObject(in: r.out)
    let lat = try #require((o["read"] as? [String: Any])?["lat_ns"] as? [String: Any])
    let (low, high) = (try #require(lat["min"] as? Int), try #require(lat["max"] as? Int))
    #expect(low >= 1_000_000, "no I/O is faster than MIN (\(low) ns)")
    #expect(high >= 15_000_000, "the slowest I/O took \(high) ns: the range's top is 20 ms")
  }

  @Test func demoAndBenchRuntimeAnswerSignalsAndWriteOneJSONDocument() throws {
    let p = try CLIProcess(["demo", "--runtime", "10m", "--processors", "2"])
    // The demo prints nothing while it runs: give it time to start, then interrupt.
    usleep(1_500_000)
    kill(p.pid, SIGINT)
    #expect(p.wait() == 130, "\(p.stderr)")
    #expect(p.stdout.contains("interrupted by SIGINT: partial results"), "\(p.stdout)")
    let b = try CLIProcess.run([
      "bench", "runtime", "--filter", "lock", "--samples", "50", "--output-format", "json",
    ])
    #expect(b.status == 0, "\(b.err)")
    let doc = try Self.jsonObject(in: b.out)
    #expect((doc["results"] as? [[String: Any]])?.count == 2)
    #expect((doc["options"] as? [String: Any])?["filter"] as? String == "lock")
    #expect(b.out.split(separator: "\n").filter { $0.hasPrefix("{") }.count == 1, "one document")
  }

  @Test func helpWithJunkIsRefused() throws {
    for args in [["help", "bogus"], ["help", "demo", "extra"]] {
      let r = CommandLineTests.rejection(args)
      #expect(
        r?.status == 2 && r?.message.contains("unknown subcommand") == true,
        "\(args): \(r?.message ?? "accepted")")
    }
    #expect(
      try StorportCommand.parse(arguments: ["help", "bench", "io"]).output?.contains("--filename") == true)
  }

  @Test func writesWithoutVerifyAreNotAllZeros() throws {
    let path = "/tmp/storport-random-\(getpid()).img"
    unlink(path)
    defer { unlink(path) }
    let r = try CLIProcess.run([
      "bench", "io", "--simulated", "--runtime", "2ms", "--filename", path, "--size", "1m", "--rw", "write",
    ])
    #expect(r.status == 0, "\(r.err)")
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    let zeroBlocks = stride(from: 0, to: data.count, by: 4096).filter { o in
      data[o..<o + 4096].allSatisfy { $0 == 0 }
    }
    #expect(zeroBlocks.count < 4, "\(zeroBlocks.count) of 256 written blocks are zeros")
  }

  /// A second signal stops waiting for outstanding I/O: results are still printed.
  @Test func aSecondSignalAbandonsTheDrainButKeepsTheResults() throws {
    let p = try CLIProcess([
      // 3 s per command, and the NVMe watchdog told to wait for it (a watchdog shorter than the
      // device's latency is refused: every command would be reset forever).
      "bench", "io", "--miniport", "nvme", "--latency", "3000000", "--stuck-ms", "60000", "--runtime", "10m",
      "--iodepth", "4", "--processors", "2", "--size", "16m", "--status-interval", "100ms",
    ])
    #expect(p.waitForStderr(seconds: 60) { $0.contains("(last interval)") }, "\(p.stderr)")
    kill(p.pid, SIGINT)
    usleep(300_000)
    kill(p.pid, SIGINT)
    #expect(p.wait() == 130, "\(p.stderr)")
    #expect(p.stdout.contains("were not waited for") && p.stdout.contains("result:"), "\(p.stdout)")
  }
}
