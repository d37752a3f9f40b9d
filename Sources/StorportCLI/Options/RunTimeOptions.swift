import ArgumentParser
import StorportWorkload

/// `--runtime TIME` (fio's name and syntax) for `run` and `demo`, and its older form
/// `--duration-ms N`.
struct RunTimeOptions: ParsableArguments {
  @Option(parsing: .unconditional, help: "Run time, e.g. 10, 50ms, 1m (virtual with --simulated).")
  var runtime: String?
  @Option(
    name: .customLong("duration-ms"), parsing: .unconditional,
    help: "The run time in milliseconds (older form of --runtime).")
  var durationMs: String?

  /// The run time in nanoseconds, or nil for the command's default.
  func nanoseconds() throws(OptionError) -> UInt64? {
    if let runtime {
      if durationMs != nil {
        throw OptionError("--duration-ms", durationMs!, "give --runtime or --duration-ms, not both")
      }
      return try OptionValue.duration(runtime, option: "--runtime", in: WorkloadOptions.runtimeRange)
    }
    return try durationMs.map { v throws(OptionError) in
      try OptionValue.integer(
        v, option: "--duration-ms", in: UInt64(1)...(WorkloadOptions.runtimeRange.upperBound / 1_000_000))
        * 1_000_000
    }
  }

  mutating func validate() throws { try checked { _ = try nanoseconds() } }
}
