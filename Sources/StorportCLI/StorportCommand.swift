import ArgumentParser
import Storport

/// `storport`: the Windows Storport execution model in user mode. Subcommands: `run` (the
/// main job), `demo`, `bench io|runtime|memory`.
///
/// Exit status: 0 success; 1 a failed run (I/O error, verify mismatch, verifier violation);
/// 2 a bad option or value (one line on standard error naming the option, the value and what
/// is accepted; nothing was touched); 130 / 143 interrupted by SIGINT / SIGTERM (partial
/// results were printed).
public struct StorportCommand: ParsableCommand {
  public static let configuration = CommandConfiguration(
    commandName: "storport",
    abstract: "The Windows Storport execution model (HW_TIMER, HW_DPC_ROUTINE, locks, IRQL) in user mode.",
    version: StorportVersion.string,
    subcommands: [RunCommand.self, DemoCommand.self, BenchCommand.self])

  public init() {}

  /// Subcommand names by parent, for the "unknown subcommand" message.
  static let subcommandNames: [String: [String]] = [
    "storport": ["run", "demo", "bench", "help"],
    "bench": ["io", "runtime", "memory", "help"],
  ]

  /// Parses `arguments` (without the program name), runs the command and returns the exit
  /// status. Every error is one line on standard error; help and `--version` go to standard
  /// output.
  public static func main(arguments: [String]) -> Int32 {
    var path = ["storport"]
    var i = 0
    while i < arguments.count, let known = subcommandNames[path.last!] {
      let word = arguments[i]
      if word.hasPrefix("-") { break }
      guard known.contains(word) else {
        Terminal.err(
          "\(path.joined(separator: " ")): unknown subcommand '\(word)' (one of: \(known.filter { $0 != "help" }.joined(separator: ", ")); see \(path.joined(separator: " ")) --help)\n"
        )
        return 2
      }
      path.append(word)
      i += 1
    }
    do {
      var command = try parseAsRoot(arguments)
      try command.run()
      return 0
    } catch let exit as CommandExit {
      if let message = exit.message { Terminal.err("\(path.joined(separator: " ")): \(message)\n") }
      return exit.status
    } catch {
      let code = exitCode(for: error)
      if code == .success {
        Terminal.out(fullMessage(for: error) + "\n")
        return 0
      }
      let message = self.message(for: error)
      if !message.isEmpty {
        let hint = code == .validationFailure ? " (see \(path.joined(separator: " ")) --help)" : ""
        Terminal.err("\(path.joined(separator: " ")): \(message)\(hint)\n")
      }
      return code == .validationFailure ? 2 : code.rawValue
    }
  }
}

/// Ends a command with `status`, printing `message` (one line) on standard error if given.
struct CommandExit: Error {
  let status: Int32
  let message: String?
  init(_ status: Int32, _ message: String? = nil) {
    self.status = status
    self.message = message
  }
}

struct BenchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bench",
    abstract: "Benchmarks (figures beside a baseline measured in the same run).",
    subcommands: [BenchIoCommand.self, BenchRuntimeCommand.self, BenchMemoryCommand.self])
}
