import StorportWorkload

/// The live progress line of a workload, on standard error. On a terminal it is rewritten in
/// place once a second; otherwise (a file, a pipe, CI) it is a plain line every
/// ``plainInterval`` nanoseconds. Rates are those of the last interval, not running averages.
final class ProgressReporter {
  let isTerminal: Bool
  let isVirtual: Bool
  static let terminalInterval: UInt64 = 1_000_000_000
  static let plainInterval: UInt64 = 10_000_000_000
  private var last: Workload.Progress?
  private var drewLine = false

  init(isVirtual: Bool, isTerminal: Bool = Terminal.isTerminal(2)) {
    self.isVirtual = isVirtual
    self.isTerminal = isTerminal
    interval = isTerminal ? Self.terminalInterval : Self.plainInterval
  }

  /// Wall-clock nanoseconds between updates (`--status-interval`).
  var interval: UInt64

  func line(_ p: Workload.Progress) -> String {
    let prev =
      last ?? Workload.Progress(elapsedNanoseconds: 0, readIos: 0, writeIos: 0, readBytes: 0, writeBytes: 0)
    let dt = Double(p.elapsedNanoseconds &- prev.elapsedNanoseconds) / 1e9
    func rate(_ a: UInt64, _ b: UInt64) -> String { dt > 0 ? Format.short(Double(a &- b) / dt) : "0" }
    let secs = Double(p.elapsedNanoseconds) / 1e9
    let clock = isVirtual ? "\(Format.decimals(secs * 1000, 3)) ms virtual" : "\(Format.decimals(secs, 1)) s"
    return
      "[\(clock)] read \(rate(p.readIos, prev.readIos)) IOPS, write \(rate(p.writeIos, prev.writeIos)) IOPS (last interval); \(Format.grouped(p.readIos + p.writeIos)) I/Os done"
  }

  func report(_ p: Workload.Progress) {
    let text = line(p)
    last = p
    if isTerminal {
      Terminal.err("\r" + text + "\u{1B}[K")
      drewLine = true
    } else {
      Terminal.err(text + "\n")
    }
  }

  /// Ends the progress line so what follows starts on a fresh line.
  func finish() {
    if drewLine { Terminal.err("\n") }
    drewLine = false
  }
}
