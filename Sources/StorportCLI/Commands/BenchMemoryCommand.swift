import ArgumentParser
import StorportBenchmarks
import StorportWorkload

/// `storport bench memory`: resident memory of a fully written RAM backing.
struct BenchMemoryCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "memory", abstract: "Resident memory of a fully written RAM backing against its size.")
  @Option(
    name: [.customLong("size"), .customLong("disk")], parsing: .unconditional,
    help: "RAM disk size (default 256m), at most the machine's memory.")
  var size: String?
  @OptionGroup var output: OutputOptions

  init() {}

  func bytes() throws(OptionError) -> UInt64 {
    guard let size else { return 256 << 20 }
    let limit = max(4096, HostInfo.physicalMemoryBytes / 2)
    let n = try OptionValue.size(size, option: "--size", in: 4096...limit)
    guard n % 4096 == 0 else { throw OptionError("--size", size, "must be a multiple of 4096 bytes") }
    return n
  }

  mutating func validate() throws { try checked { _ = try bytes() } }

  func run() throws {
    let n = try checked { try bytes() }
    let json = try checked { try output.isJSON() }
    let result: MemoryBenchmark.Result
    do { result = try MemoryBenchmark(bytes: n).run() } catch { throw CommandExit(1, "\(error)") }
    try Terminal.results(json ? result.json + "\n" : result.text)
  }
}
