import ArgumentParser
import Storport
import StorportC
import StorportExplorer
import StorportTesting

/// `storport replay FILE`: runs a schedule file's decisions again and prints the report.
/// Exit status 1 when the run fails (the failure reproduced, or another one), 0 when it now
/// passes, 2 for a file that cannot be used.
struct ReplayCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "replay",
    abstract: "Replay a schedule file written by storport explore and print its report.")

  @Argument(help: "The schedule file (schedule.json).")
  var file: String
  @Option(
    parsing: .unconditional, help: "Directory to write report.txt, trace.json and timeline.svg of the replay."
  )
  var out: String?

  init() {}

  func run() throws {
    let schedule: ScheduleFile
    do throws(ScheduleFileError) { schedule = try ScheduleFile.read(path: file) } catch {
      throw CommandExit(2, error.description)
    }
    let harness: ExplorationHarness
    if let spec = CMiniportHarnessSpec.parse(schedule.harness) {
      do { harness = try spec.harness() } catch {
        throw CommandExit(2, "\(file): the C miniport it recorded cannot be loaded: \(error.description)")
      }
    } else if let builtIn = BuiltInHarnesses.named(schedule.harness) {
      harness = builtIn
    } else {
      throw CommandExit(
        2, "\(file): harness \"\(schedule.harness)\" is not built in (see storport explore --list)")
    }
    guard harness.processors == schedule.processors else {
      throw CommandExit(
        2,
        "\(file): recorded on \(schedule.processors) processors; \(harness.name) runs on \(harness.processors)"
      )
    }
    let (run, divergence) = Explorer.replay(
      harness, decisions: schedule.decisions, pollersCompete: schedule.pollersCompete,
      maxSteps: schedule.maxSteps,
      keepTrace: out != nil, raceDetection: schedule.raceDetection)
    var text =
      "replay of \(file): \(harness.name), \(schedule.decisions.count) decisions, \(run.steps) steps\n"
    if schedule.runtimeVersion != StorportVersion.string {
      text +=
        "note: recorded by swift-storport \(schedule.runtimeVersion), replayed by \(StorportVersion.string)\n"
    }
    if let divergence { text += "DIVERGED: \(divergence) — the run no longer follows the recording\n" }
    if let primary = run.primary {
      let same = primary.signature == schedule.failure?.signature
      text +=
        divergence != nil
        ? "FAIL (after diverging, so not a reproduction): "
        : (same ? "REPRODUCED: " : "FAIL (not the recorded failure): ")
      text +=
        "\(primary.kind.rawValue) — \(primary.rule)\n  \(primary.message.replacingOccurrences(of: "\n", with: "\n  "))\n"
      if let b = primary.bugCheck { text += "  bug check: \(b)\n" }
      for o in run.failures.dropFirst() { text += "  also: \(o.kind.rawValue): \(o.rule)\n" }
      text += "  processors at the end:\n"
      for p in run.processors {
        text += "    CPU \(p.processor): \(p.callback ?? "idle") at \(p.irql), holding "
        text += (p.locks.isEmpty ? "no lock" : p.locks.joined(separator: ", ")) + "\n"
      }
      text += "  last \(run.recentEvents.count) events:\n" + run.recentEvents.map { "    \($0)\n" }.joined()
    } else {
      text += "PASS: the schedule no longer fails"
      text += schedule.failure.map { " (it was: \($0.signature))" } ?? ""
      text += "\n"
    }
    if let out, let capture = run.trace {
      var chrome = ""
      _ = capture.writeChromeTrace { (s: String) in chrome += s }
      let title = "\(harness.name) replay: \(run.primary?.signature ?? "passed")"
      let dir = out.hasSuffix("/") ? out : out + "/"
      do throws(ScheduleFileError) {
        try OutputDirectory.write(
          dir,
          [
            ("report.txt", text), ("trace.json", chrome),
            ("timeline.svg", TimelinePicture.svg(capture, title: title)),
          ])
      } catch { throw CommandExit(1, error.description) }
    }
    try Terminal.results(text)
    // A replay that left its recording depends on something the simulator does not control:
    // a failure even when the run passed.
    if run.primary != nil || divergence != nil { throw CommandExit(1) }
  }
}
