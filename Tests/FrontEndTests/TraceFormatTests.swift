import Foundation
import Storport
import StorportSamples
import StorportTesting
import StorportWorkload
import Testing

/// `--trace FILE` writes the Chrome trace-event format that Perfetto and chrome://tracing open
/// (issue 6 §5), checked here against what that format requires: a `traceEvents` array of
/// objects with `ph`, `pid`, `tid`, numeric `ts`; complete slices with `dur` that nest per
/// thread; flows whose ends have starts; counters with numeric arguments.
@Suite struct TraceFormatTests {
  static func parse(_ path: String) throws -> [String: Any] {
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    return try #require(JSONSerialization.jsonObject(with: data) as? [String: Any])
  }

  /// Checks the structure Perfetto's JSON importer relies on; returns the events.
  @discardableResult
  static func checkTraceEventFormat(_ root: [String: Any], sourceLocation: SourceLocation = #_sourceLocation)
    throws
    -> [[String: Any]]
  {
    let events = try #require(root["traceEvents"] as? [[String: Any]], sourceLocation: sourceLocation)
    var slices: [Int: [(Double, Double)]] = [:]
    var flowStarts: [Int: (Double, String)] = [:]
    var flowEnds: [(Int, Double, String)] = []
    for e in events {
      let ph = try #require(e["ph"] as? String, "event without ph: \(e)", sourceLocation: sourceLocation)
      #expect(
        ["M", "X", "C", "s", "f", "i"].contains(ph), "unexpected ph \(ph)", sourceLocation: sourceLocation)
      #expect(
        e["pid"] as? Int != nil && e["tid"] as? Int != nil, "pid/tid: \(e)", sourceLocation: sourceLocation)
      #expect(e["name"] as? String != nil, "name: \(e)", sourceLocation: sourceLocation)
      if ph == "M" { continue }
      let ts = try #require(e["ts"] as? Double, "ts: \(e)", sourceLocation: sourceLocation)
      #expect(ts >= 0, sourceLocation: sourceLocation)
      let tid = e["tid"] as! Int
      switch ph {
      case "X":
        let dur = try #require(e["dur"] as? Double, "dur: \(e)", sourceLocation: sourceLocation)
        #expect(dur >= 0, sourceLocation: sourceLocation)
        slices[tid, default: []].append((ts, ts + dur))
      case "C":
        let args = try #require(e["args"] as? [String: Any], sourceLocation: sourceLocation)
        #expect(
          args.values.allSatisfy { $0 is Double || $0 is Int }, "counter args: \(args)",
          sourceLocation: sourceLocation)
      case "s":
        let id = try #require(e["id"] as? Int, sourceLocation: sourceLocation)
        #expect(flowStarts[id] == nil, "flow \(id) starts twice", sourceLocation: sourceLocation)
        flowStarts[id] = (ts, e["cat"] as? String ?? "")
      case "f":
        let id = try #require(e["id"] as? Int, sourceLocation: sourceLocation)
        flowEnds.append((id, ts, e["cat"] as? String ?? ""))
      case "i":
        #expect(["g", "p", "t"].contains(e["s"] as? String ?? "t"), sourceLocation: sourceLocation)
      default: break
      }
    }
    // Slices on one thread either nest or follow each other (no partial overlap).
    let epsilon = 0.0005
    for (tid, list) in slices {
      var stack: [(Double, Double)] = []
      for (start, end) in list.sorted(by: { $0.0 < $1.0 || ($0.0 == $1.0 && $0.1 > $1.1) }) {
        while let top = stack.last, start >= top.1 - epsilon { stack.removeLast() }
        if let top = stack.last {
          #expect(
            end <= top.1 + epsilon, "tid \(tid): slice \(start)…\(end) overlaps \(top.0)…\(top.1)",
            sourceLocation: sourceLocation)
        }
        stack.append((start, end))
      }
    }
    // Viewers pair flow events by (category, id): each end has a start of its category.
    for (id, ts, category) in flowEnds {
      let start = try #require(
        flowStarts[id], "flow end \(id) without a start", sourceLocation: sourceLocation)
      #expect(start.0 <= ts + epsilon, "flow \(id) ends before it starts", sourceLocation: sourceLocation)
      #expect(
        start.1 == category, "flow \(id): \(start.1) start, \(category) end", sourceLocation: sourceLocation)
    }
    #expect(
      Set(flowEnds.map(\.0)).count == flowEnds.count, "a flow ends twice", sourceLocation: sourceLocation)
    return events
  }

  @Test func theMainJobTraceOpensAsTraceEventFormat() throws {
    let path = "/tmp/storport-trace-\(getpid()).json"
    defer { unlink(path) }
    let r = try CLIProcess.run(["run", "--simulated", "--runtime", "3ms", "--trace", path])
    #expect(r.status == 0, "\(r.err)")
    #expect(r.out.contains("trace:") && r.out.contains("chrome"), "\(r.out)")
    let root = try Self.parse(path)
    let other = try #require(root["otherData"] as? [String: Any])
    #expect(other["time_base"] as? String == "virtual")
    let events = try Self.checkTraceEventFormat(root)
    let categories = Set(events.filter { $0["ph"] as? String == "X" }.compactMap { $0["cat"] as? String })
    for role in ["HwStorStartIo", "HwStorDpcRoutine", "HwMSInterruptRoutine", "HwStorTimer"] {
      #expect(categories.contains(role), "no \(role) slice; categories: \(categories)")
    }
    let threads = events.filter { $0["name"] as? String == "thread_name" }.compactMap {
      ($0["args"] as? [String: Any])?["name"] as? String
    }
    #expect(threads.contains("CPU 0") && threads.contains("CPU 1"))
    let irql = events.filter {
      $0["ph"] as? String == "C" && ($0["name"] as? String ?? "").hasPrefix("IRQL CPU")
    }
    #expect(irql.count > 10)
    let flows = events.filter { $0["ph"] as? String == "f" }.compactMap { $0["cat"] as? String }
    #expect(flows.contains("StorPortIssueDpc") && flows.contains("interrupt"), "flows: \(Set(flows))")
    // Nearly every flow that starts also ends (only those still pending at the end may not).
    let starts = events.filter { $0["ph"] as? String == "s" }.count
    #expect(flows.count > 100 && starts - flows.count < 10, "\(starts) flows start, \(flows.count) end")
  }

  @Test func jsonLinesStayAvailable() throws {
    let path = "/tmp/storport-trace-\(getpid()).jsonl"
    defer { unlink(path) }
    let r = try CLIProcess.run([
      "run", "--simulated", "--runtime", "1ms", "--trace", path, "--trace-format", "jsonl",
    ])
    #expect(r.status == 0, "\(r.err)")
    let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
    #expect(lines.count > 100)
    for line in lines.prefix(500) {
      let o = try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
      for key in ["seq", "t_ns", "cpu", "adapter", "ev", "irql", "name", "a", "b", "obj"] {
        #expect(o[key] != nil, "\(key) in \(line)")
      }
    }
  }

  @Test func theTraceLimitBoundsTheFile() throws {
    let path = "/tmp/storport-trace-limit-\(getpid()).json"
    defer { unlink(path) }
    let r = try CLIProcess.run([
      "run", "--simulated", "--runtime", "5ms", "--trace", path, "--trace-limit", "3000",
    ])
    #expect(r.status == 0, "\(r.err)")
    let root = try Self.parse(path)
    let events = try Self.checkTraceEventFormat(root)
    #expect((root["otherData"] as? [String: Any])?["truncated"] as? Bool == true)
    // Every kept event becomes at most a few trace events (a slice, a flow, a counter).
    #expect(events.count < 3 * 3000 + 100, "\(events.count) events for a limit of 3000")
    let bytes = try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int
    // At this size per kept event, the default limit (400,000) stays under 100 MB.
    #expect(bytes / 3000 < 250, "\(bytes) bytes for 3000 events")
  }

  @Test func aViolationIsAnInstantEvent() throws {
    let runtime = StorportRuntime(
      platform: SimulatedPlatform(processors: 2, seed: 1),
      verifier: .checked(onViolation: .recordAndContinue), trace: .full)
    let m = ScriptedMiniport(name: "faulty")
    m.onStartIo = { e, r in
      e.port.requestComplete(r)
      e.port.requestComplete(r)  // REQUEST_COMPLETED_TWICE
      return true
    }
    let adapter = runtime.attach(m)
    runtime.start()
    adapter.start()
    runtime.runUntil { adapter.state == .running }
    adapter.submit(StorRequest(tag: 1)) { _ in }
    runtime.run(forMilliseconds: 1)
    let capture = runtime.traceCapture()
    runtime.shutdown()
    var text = ""
    capture.writeChromeTrace { text += $0 }
    let root = try #require(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    let events = try Self.checkTraceEventFormat(root)
    let violations = events.filter { $0["ph"] as? String == "i" && $0["cat"] as? String == "verifier" }
    #expect(
      violations.contains { ($0["name"] as? String ?? "").contains("REQUEST_COMPLETED_TWICE") },
      "\(violations)")
  }

  @Test func anUnwritableTraceFailsTheRunAndAnUnopenableOneFailsBeforeIt() throws {
    let full = try CLIProcess.run(["run", "--simulated", "--runtime", "1ms", "--trace", "/dev/full"])
    #expect(full.status == 1, "status \(full.status): \(full.err)")
    #expect(full.err.contains("/dev/full") && full.err.contains("No space left on device"), "\(full.err)")
    #expect(full.out.contains("result: PASS"), "the results are still printed")
    let missing = try CLIProcess.run([
      "run", "--simulated", "--runtime", "1ms", "--trace", "/nonexistent-dir/t.json",
    ])
    #expect(missing.status == 2, "\(missing.err)")
    #expect(
      missing.err.contains("/nonexistent-dir/t.json") && missing.err.contains("No such file or directory"),
      "\(missing.err)")
    #expect(!missing.out.contains("result:"), "nothing ran")
  }

  /// A trace path naming the target or its verify state would destroy it: refused before
  /// anything is opened.
  @Test func aTraceOverTheTargetOrItsStateIsRefused() throws {
    let path = try FileSafetyTests.temporaryFile(bytes: 1 << 20)
    let hardLink = path + ".link"
    defer {
      unlink(path)
      unlink(hardLink)
      unlink(VerifyState.defaultPath(for: path))
    }
    #expect(link(path, hardLink) == 0)
    let before = try FileSafetyTests.digest(path)
    for trace in [path, hardLink] {
      let r = try CLIProcess.run([
        "bench", "io", "--simulated", "--runtime", "1ms", "--filename", path, "--rw", "randread", "--trace",
        trace,
      ])
      #expect(r.status == 2, "\(r.err)")
      #expect(r.err.contains("the target itself"), "\(r.err)")
    }
    let state = try CLIProcess.run([
      "bench", "io", "--simulated", "--runtime", "1ms", "--filename", path, "--rw", "randwrite", "--verify",
      "crc32c",
      "--trace", VerifyState.defaultPath(for: path),
    ])
    #expect(state.status == 2 && state.err.contains("verify state itself"), "\(state.err)")
    #expect(try FileSafetyTests.digest(path) == before, "the target is untouched")
  }
}
