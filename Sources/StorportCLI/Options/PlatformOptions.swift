import ArgumentParser
import Storport
import StorportWorkload

/// Where the adapter runs: `--simulated`, `--seed`, `--processors`, `--poll`.
struct PlatformOptions: ParsableArguments {
  @Flag(help: "Use the deterministic simulated platform (virtual time).")
  var simulated = false
  @Option(
    name: [.customLong("seed"), .customLong("randseed")], parsing: .unconditional,
    help: "Seed of the workload and of the simulated scheduler (0…2^64−1, default 1).")
  var seed: String?
  @Option(parsing: .unconditional, help: "Processors, 1…64 (default: min(host cores, 64) live, 2 simulated).")
  var processors: String?
  @Flag(help: "Live processors poll instead of parking when idle (live platform only).")
  var poll = false

  struct Values {
    var simulated: Bool
    var seed: UInt64
    var processors: Int?
    var idlePolicy: IdlePolicy
    /// The processor count that will run.
    var processorCount: Int { processors ?? (simulated ? 2 : LivePlatform.defaultProcessorCount) }
  }

  func values() throws(OptionError) -> Values {
    let seed =
      try self.seed.map { s throws(OptionError) in
        try OptionValue.integer(s, option: "--seed", in: UInt64.min...UInt64.max)
      } ?? 1
    let n = try processors.map { p throws(OptionError) in
      try OptionValue.integer(p, option: "--processors", in: WorkloadOptions.processorRange)
    }
    if poll && simulated {
      throw OptionError("--poll", nil, "applies only to the live platform, not --simulated")
    }
    return Values(simulated: simulated, seed: seed, processors: n, idlePolicy: poll ? .poll : .default)
  }

  mutating func validate() throws { try checked { _ = try values() } }
}
