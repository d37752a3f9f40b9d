import ArgumentParser
import Storport
import StorportDevices
import StorportWorkload

/// `--trace FILE`, `--trace-format chrome|jsonl`, `--trace-limit N`.
struct TraceOptions: ParsableArguments {
  @Option(
    parsing: .unconditional, help: "Write the runtime's event trace to this file (opened before the run).")
  var trace: String?
  @Option(
    name: .customLong("trace-format"), parsing: .unconditional,
    help: "chrome (trace-event JSON for Perfetto / chrome://tracing, default) or jsonl (one event per line).")
  var traceFormat: String?
  @Option(
    name: .customLong("trace-limit"), parsing: .unconditional,
    help: "Keep at most about the last N runtime events (default 400000: under 100 MB); 0 keeps every event.")
  var traceLimit: String?

  static let defaultLimit = 400_000
  static let limitRange = 0...100_000_000

  /// How the trace file is written.
  enum Format: String, CaseIterable {
    /// The Chrome trace-event format (Perfetto, chrome://tracing).
    case chrome
    /// One ``TraceEvent`` JSON object per line.
    case jsonl
  }

  struct Values {
    var path: String?
    var format: Format
    var mode: TraceMode

    /// The trace options as a JSON result records them.
    var json: JSONObject {
      var j = JSONObject()
      j["trace"] = .optional(path.map { .string($0) })
      j["trace_format"] = .string(format.rawValue)
      switch mode {
      case .last(let n): j["trace_limit"] = .int(n)
      case .full: j["trace_limit"] = .int(0)
      default: j["trace_limit"] = .null
      }
      return j
    }
  }

  func values() throws(OptionError) -> Values {
    var format = Format.chrome
    if let traceFormat {
      guard let f = Format(rawValue: traceFormat) else {
        throw OptionError("--trace-format", traceFormat, "chrome or jsonl")
      }
      format = f
    }
    let limit = try traceLimit.map { l throws(OptionError) in
      try OptionValue.integer(l, option: "--trace-limit", in: Self.limitRange)
    }
    guard let path = trace else {
      if let traceFormat {
        throw OptionError("--trace-format", traceFormat, "applies only with --trace FILE")
      }
      if let traceLimit { throw OptionError("--trace-limit", traceLimit, "applies only with --trace FILE") }
      return Values(path: nil, format: format, mode: .reportRing)
    }
    guard !path.isEmpty else { throw OptionError("--trace", path, "a file path") }
    let n = limit ?? Self.defaultLimit
    return Values(path: path, format: format, mode: n == 0 ? .full : .last(events: n))
  }

  mutating func validate() throws { try checked { _ = try values() } }
}

extension TraceOptions.Values {
  /// Refuses a trace path that names one of `files` (the target, its verify state): writing
  /// the trace would destroy it.
  func checkDistinct(from files: [(String, String?)]) throws {
    guard let path else { return }
    for (what, other) in files {
      if let other, SystemIO.sameFile(path, other) {
        throw ValidationError(
          "invalid --trace '\(path)': it is the \(what) itself; the trace needs a file of its own")
      }
    }
  }

  /// Opens the trace file (before the run: an unusable path fails at once).
  func open() throws -> OutputFile? {
    guard let path else { return nil }
    do { return try OutputFile(path: path) } catch {
      throw ValidationError("cannot write the trace: \(error)")
    }
  }

  /// Writes `capture` in the chosen format and closes the file. Returns a line for the report.
  func write(_ capture: TraceCapture, to file: OutputFile) throws(OutputFile.Failure) -> String {
    let records: Int
    switch format {
    case .jsonl:
      records = try capture.writeJSONLines { (s: String) throws(OutputFile.Failure) in try file.write(s) }
    case .chrome:
      records = try capture.writeChromeTrace { (s: String) throws(OutputFile.Failure) in try file.write(s) }
    }
    try file.finish()
    var line =
      "trace: \(records) records from \(capture.events.count) runtime events written to \(file.path) (\(format.rawValue), \(StorportWorkload.Format.bytes(file.bytesWritten)))"
    if capture.isTruncated { line += "; older events dropped (--trace-limit)" }
    return line
  }
}
