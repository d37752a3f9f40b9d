import ArgumentParser
import StorportWorkload

/// `--output-format normal|json` (fio's name) and its short form `--json`.
struct OutputOptions: ParsableArguments {
  @Option(name: .customLong("output-format"), help: "normal (default) or json.")
  var outputFormat: String?
  @Flag(help: "Same as --output-format json.")
  var json = false

  func isJSON() throws(OptionError) -> Bool {
    guard let f = outputFormat else { return json }
    let v = try OptionValue.choice(f, option: "--output-format", ["normal", "json"])
    if json && v != "json" { throw OptionError("--json", nil, "contradicts --output-format \(v)") }
    return v == "json"
  }

  mutating func validate() throws { try checked { _ = try isJSON() } }
}

/// `--status-interval TIME` (fio's name): how often the progress line is printed.
struct ProgressOptions: ParsableArguments {
  @Option(
    name: .customLong("status-interval"),
    help: "Progress line interval, e.g. 1s or 500ms (default 1 s on a terminal, 10 s otherwise).")
  var statusInterval: String?

  func interval() throws(OptionError) -> UInt64? {
    try statusInterval.map { v throws(OptionError) in
      try OptionValue.duration(v, option: "--status-interval", in: 10_000_000...86_400_000_000_000)
    }
  }

  mutating func validate() throws { try checked { _ = try interval() } }

  func reporter(isVirtual: Bool) throws -> ProgressReporter {
    let r = ProgressReporter(isVirtual: isVirtual)
    if let i = try checked({ try interval() }) { r.interval = i }
    return r
  }
}
