import ArgumentParser
import Storport
import StorportWorkload

/// `--status-interval TIME` (fio's name): how often the progress line is printed.
struct ProgressOptions: ParsableArguments {
  @Option(
    name: .customLong("status-interval"), parsing: .unconditional,
    help: "Progress line interval, e.g. 1s or 500ms (default 1 s on a terminal, 10 s otherwise).")
  var statusInterval: String?

  func interval() throws(OptionError) -> UInt64? {
    try statusInterval.map { v throws(OptionError) in
      try OptionValue.duration(v, option: "--status-interval", in: 10_000_000...86_400_000_000_000)
    }
  }

  mutating func validate() throws { try checked { _ = try interval() } }

  /// The option as a JSON result records it.
  func json() throws -> JSONObject {
    var j = JSONObject()
    j["status_interval_ns"] = .optional(try checked { try interval() }.map { .int($0) })
    return j
  }

  func reporter(isVirtual: Bool) throws -> ProgressReporter {
    let r = ProgressReporter(isVirtual: isVirtual)
    if let i = try checked({ try interval() }) { r.interval = i }
    return r
  }
}
