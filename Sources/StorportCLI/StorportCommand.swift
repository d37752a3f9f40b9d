import ArgumentParser
import Storport
import StorportC

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
    subcommands: [
      RunCommand.self, DemoCommand.self, BenchCommand.self, ExploreCommand.self, ReplayCommand.self,
      ServeCommand.self,
    ])

  @Flag(
    name: .customLong("include-dir"),
    help: "Print the directory of storport.h and the other headers C miniports compile against, and exit.")
  var includeDir = false

  public init() {}

  public func run() throws {
    guard includeDir else { throw CleanExit.helpRequest(self) }
    Terminal.out(CMiniportBuild.includeDirectory + "\n")
  }

  /// Subcommand names by parent, for the "unknown subcommand" message.
  static let subcommandNames: [String: [String]] = [
    "storport": ["run", "demo", "bench", "explore", "replay", "serve", "help"],
    "bench": ["io", "runtime", "memory", "work", "help"],
  ]

  /// A command line that cannot run: the exit status (2 for a bad option or value) and the
  /// one-line message, already prefixed with the subcommand path.
  public struct Rejection: Error, Equatable {
    public let status: Int32
    public let message: String
  }

  /// The command type at a subcommand path.
  static func commandType(_ path: [String]) -> ParsableCommand.Type {
    switch path.dropFirst().joined(separator: " ") {
    case "run": return RunCommand.self
    case "demo": return DemoCommand.self
    case "bench": return BenchCommand.self
    case "bench io": return BenchIoCommand.self
    case "bench runtime": return BenchRuntimeCommand.self
    case "bench memory": return BenchMemoryCommand.self
    case "bench work": return BenchWorkCommand.self
    case "explore": return ExploreCommand.self
    case "replay": return ReplayCommand.self
    case "serve": return ServeCommand.self
    default: return StorportCommand.self
    }
  }

  /// The subcommand path the arguments name ("storport bench io"), and the first word that
  /// names no subcommand, if any.
  static func subcommandPath(_ arguments: [String]) -> (path: [String], unknown: String?) {
    var path = ["storport"]
    var i = 0
    while i < arguments.count, let known = subcommandNames[path.last!] {
      let word = arguments[i]
      if word.hasPrefix("-") { break }
      guard known.contains(word) else { return (path, word) }
      path.append(word)
      i += 1
    }
    return (path, nil)
  }

  /// Parses and validates `arguments` (without the program name) without running anything.
  /// - Returns: the command to run (nil for `--help` / `--version`, whose text is returned
  ///   in `output`), or throws the ``Rejection`` a user would see.
  public static func parse(arguments: [String]) throws(Rejection) -> (
    command: ParsableCommand?, output: String?
  ) {
    let (path, unknown) = subcommandPath(arguments)
    let location = path.joined(separator: " ")
    if let unknown {
      let known = subcommandNames[path.last!]!.filter { $0 != "help" }
      throw Rejection(
        status: 2,
        message:
          "\(location): unknown subcommand '\(unknown)' (one of: \(known.joined(separator: ", ")); see \(location) --help)"
      )
    }
    if arguments.first == "help" {
      let rest = Array(arguments.dropFirst())
      let (helpPath, unknownWord) = subcommandPath(rest)
      if let extra = unknownWord ?? rest.dropFirst(helpPath.count - 1).first {
        throw Rejection(
          status: 2,
          message:
            "storport help: unknown subcommand '\(extra)' (one of: run, demo, bench, bench io, bench runtime, bench memory, bench work, explore, replay)"
        )
      }
      return (nil, helpMessage(for: commandType(helpPath)))
    }
    if arguments.contains("--help") || arguments.contains("-h") {
      return (nil, helpMessage(for: commandType(path)))
    }
    do {
      return (try parseAsRoot(arguments), nil)
    } catch {
      let code = exitCode(for: error)
      if code == .success {
        let text = fullMessage(for: error)
        return (nil, text.isEmpty ? helpMessage(for: commandType(path)) : text)
      }
      let message = self.message(for: error)
      let hint = code == .validationFailure ? " (see \(location) --help)" : ""
      throw Rejection(
        status: code == .validationFailure ? 2 : code.rawValue, message: "\(location): \(message)\(hint)")
    }
  }

  /// Parses `arguments` (without the program name), runs the command and returns the exit
  /// status. Every error is one line on standard error; help and `--version` go to standard
  /// output.
  public static func main(arguments: [String]) -> Int32 {
    let location = subcommandPath(arguments).path.joined(separator: " ")
    do {
      let (parsed, output) = try parse(arguments: arguments)
      guard var command = parsed else {
        Terminal.out((output ?? "") + "\n")
        return 0
      }
      try command.run()
      return 0
    } catch let rejection as Rejection {
      Terminal.err(rejection.message + "\n")
      return rejection.status
    } catch let exit as CommandExit {
      if let message = exit.message {
        let hint = exit.status == 2 ? " (see \(location) --help)" : ""
        Terminal.err("\(location): \(message)\(hint)\n")
      }
      return exit.status
    } catch {
      let code = exitCode(for: error)
      if code == .success {  // a help or version request surfacing from run()
        Terminal.out(fullMessage(for: error) + "\n")
        return 0
      }
      let message = self.message(for: error)
      if !message.isEmpty { Terminal.err("\(location): \(message)\n") }
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
    subcommands: [
      BenchIoCommand.self, BenchRuntimeCommand.self, BenchMemoryCommand.self, BenchWorkCommand.self,
    ])
}
