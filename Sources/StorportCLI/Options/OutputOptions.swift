import ArgumentParser
import StorportWorkload

/// `--output-format normal|json` (fio's name) and its short form `--json`.
struct OutputOptions: ParsableArguments {
  @Option(name: .customLong("output-format"), parsing: .unconditional, help: "normal (default) or json.")
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
