import ArgumentParser
import StorportBenchmarks
import StorportWorkload

/// `storport bench work`: a fixed number of operations and nothing else, for
/// `scripts/instructions.sh` (instructions per operation under callgrind).
struct BenchWorkCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "work",
    abstract:
      "Run a fixed number of lock or DPC operations (for counting instructions with scripts/instructions.sh)."
  )
  @Option(
    parsing: .unconditional,
    help: "lock (acquire + release of the StartIo lock) or dpc (StorPortIssueDpc + the routine's run).")
  var operation: String
  @Option(parsing: .unconditional, help: "How many operations, 0…100000000.")
  var count: String
  @Flag(help: "Turn the verifier off (unchecked mode).")
  var unchecked = false

  init() {}

  func values() throws(OptionError) -> (FixedWork.Operation, Int) {
    guard let op = FixedWork.Operation(rawValue: operation) else {
      throw OptionError("--operation", operation, "lock or dpc")
    }
    return (op, try OptionValue.integer(count, option: "--count", in: 0...100_000_000))
  }

  mutating func validate() throws { try checked { _ = try values() } }

  func run() throws {
    let (op, n) = try checked { try values() }
    FixedWork.run(op, count: n, checked: !unchecked)
  }
}
