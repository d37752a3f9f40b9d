import ArgumentParser
import CStorportShim
import Storport
import StorportWorkload

/// `storport run`: the main job.
struct RunCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "run",
    abstract:
      "The main job: the NVMe miniport on an emulated controller (RAM backing), a mixed verified workload in checked mode, then I/O figures, timer / DPC / lock statistics and the verifier's verdict."
  )

  @OptionGroup var platform: PlatformOptions
  @OptionGroup var time: RunTimeOptions
  @OptionGroup var trace: TraceOptions
  @OptionGroup var output: OutputOptions
  @OptionGroup var progress: ProgressOptions
  @Option(
    parsing: .unconditional,
    help:
      "A C miniport (PATH.so) instead of the Swift NVMe sample: on the emulated NVMe controller if physical, alone if virtual."
  )
  var miniport: String?
  @Option(
    name: .customLong("miniport-args"), parsing: .unconditional,
    help: "More of the C miniport's ArgumentString (\"Key=Value;…\").")
  var miniportArgs: String?

  init() {}

  func mainRun() throws(OptionError) -> MainRun {
    let p = try platform.values()
    let ns = try time.nanoseconds()
    let t = try trace.values()
    _ = try output.isJSON()
    var main = MainRun(
      simulated: p.simulated, seed: p.seed, processors: p.processors, runtimeNanoseconds: ns, trace: t.mode,
      idlePolicy: p.idlePolicy)
    try MiniportPath.checkArguments(miniportArgs, library: miniport)
    if let miniport {
      main.options.miniportLibrary = try MiniportPath.library(miniport)
      main.options.miniportArguments = miniportArgs
    }
    return main
  }

  mutating func validate() throws { try checked { _ = try mainRun() } }

  func run() throws {
    let main = try checked { try mainRun() }
    let json = try checked { try output.isJSON() }
    let traceValues = try checked { try trace.values() }
    let traceFile = try traceValues.open()
    HostInfo.installStopSignals()
    let reporter = try progress.reporter(isVirtual: main.options.simulated)
    let outcome: MainRun.Outcome
    do throws(WorkloadError) {
      outcome = try main.run(
        progressEvery: reporter.interval, progress: json ? nil : reporter.report,
        stop: .signals)
    } catch { throw CommandExit(error.exitStatus, error.description) }
    reporter.finish()
    var extra = traceValues.json
    extra.merge(try progress.json())
    try Terminal.results(json ? outcome.workload.json(extraOptions: extra) + "\n" : outcome.text)
    try finishRun(
      passed: outcome.passed, interrupted: outcome.workload.interruptedBySignal, trace: traceFile,
      capture: traceFile == nil ? nil : outcome.trace, values: traceValues, json: json)
  }
}
