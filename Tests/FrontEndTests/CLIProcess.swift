import Foundation
import StorportCLI
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// Runs `storport` with arguments in a child process — this test binary re-entered at
/// ``CLIChild/cliChild()`` — with its standard output and error captured in files, so tests
/// can send it signals and read what a user would see.
final class CLIProcess {
  static let argumentsVariable = "STORPORT_TEST_CLI_ARGS"
  let pid: pid_t
  let stdoutPath: String
  let stderrPath: String
  private(set) var status: Int32?

  init(_ arguments: [String], environment extra: [String] = []) throws {
    let id = "\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    stdoutPath = "/tmp/storport-cli-\(id).out"
    stderrPath = "/tmp/storport-cli-\(id).err"
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 1, stdoutPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    let exe = "/proc/self/exe"
    let args = [exe, "--testing-library", "swift-testing", "--filter", "cliChild"]
    var argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
    // Arguments separated by the unit separator (no argument contains it).
    let joined = arguments.joined(separator: "\u{1F}")
    var env = ["\(Self.argumentsVariable)=\(joined)", "PATH=/usr/bin:/bin"] + extra
    if let home = getenv("HOME") { env.append("HOME=\(String(cString: home))") }
    var envp: [UnsafeMutablePointer<CChar>?] = env.map { strdup($0) } + [nil]
    defer { for p in argv + envp { free(p) } }
    var child: pid_t = 0
    let rc = posix_spawn(&child, exe, &actions, nil, &argv, &envp)
    guard rc == 0 else { throw POSIXError(POSIXErrorCode(rawValue: rc) ?? .EIO) }
    pid = child
  }

  deinit {
    if status == nil {
      kill(pid, SIGKILL)
      _ = wait()
    }
    unlink(stdoutPath)
    unlink(stderrPath)
  }

  /// Waits for the child; returns its exit status (128 + signal if it was killed by one).
  @discardableResult
  func wait() -> Int32 {
    if let status { return status }
    var raw: Int32 = 0
    while waitpid(pid, &raw, 0) < 0 && errno == EINTR {}
    let s = raw & 0x7F == 0 ? (raw >> 8) & 0xFF : 128 + (raw & 0x7F)
    status = s
    return s
  }

  var stdout: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
  /// Standard error without the test runner's own lines (swift-testing writes its progress
  /// there before the child reaches `storport`).
  var stderr: String {
    let text = (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? ""
    let runner: [Character] = ["◇", "↳", "✔", "✘", "􀟈", "􀢄", "􀄵", "􁁛"]
    return text.split(separator: "\n", omittingEmptySubsequences: false)
      .filter { line in !(line.first.map { runner.contains($0) } ?? false) }
      .joined(separator: "\n")
  }

  /// Polls (every 20 ms, up to `seconds`) until `condition` holds for standard error.
  func waitForStderr(seconds: Double = 60, _ condition: (String) -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
      if condition(stderr) { return true }
      var raw: Int32 = 0
      if waitpid(pid, &raw, WNOHANG) == pid {
        status = raw & 0x7F == 0 ? (raw >> 8) & 0xFF : 128 + (raw & 0x7F)
        return condition(stderr)
      }
      usleep(20_000)
    }
    return false
  }

  /// Runs to the end and returns (status, stdout, stderr).
  static func run(_ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
    let p = try CLIProcess(arguments)
    let s = p.wait()
    return (s, p.stdout, p.stderr)
  }
}

@Suite struct CLIChild {
  /// In a child started by ``CLIProcess``: runs `storport` with the given arguments and exits
  /// with its status. In a normal test run: does nothing.
  @Test func cliChild() {
    guard let raw = getenv(CLIProcess.argumentsVariable) else { return }
    let text = String(cString: raw)
    let args =
      text.isEmpty ? [] : text.split(separator: "\u{1F}", omittingEmptySubsequences: false).map(String.init)
    exit(StorportCommand.main(arguments: args))
  }
}
