import ArgumentParser
import Storport
import StorportWorkload

/// The end shared by the workload commands: write the trace (its errors fail the command),
/// then exit 128 + signal when interrupted, 1 when the run failed.
func finishRun(
  passed: Bool, interrupted: Int32?, trace file: OutputFile?, capture: TraceCapture?,
  values: TraceOptions.Values,
  json: Bool
) throws {
  if let file, let capture {
    do {
      let line = try values.write(capture, to: file)
      if json { Terminal.err(line + "\n") } else { Terminal.out(line + "\n") }
    } catch { throw CommandExit(1, "the trace was not written completely: \(error)") }
  }
  if let sig = interrupted { throw CommandExit(128 + sig) }
  if !passed { throw CommandExit(1) }
}
