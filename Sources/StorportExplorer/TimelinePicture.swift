import Storport

/// An SVG picture of one schedule: a lane per simulated processor, time (in trace order —
/// virtual time barely moves within a schedule) from left to right, each miniport callback a
/// box named after its routine (a preempting callback drawn inside the one it preempted),
/// lock acquisitions as ticks, DPC issues and interrupt raises as arrows to the callback they
/// start, and the failure — a verifier violation, a data race — as a red marker with its
/// text. The interleaving a driver writer must see to believe the bug.
public enum TimelinePicture {
  /// The SVG document for `capture` with `title` (the failure) on top.
  public static func svg(_ capture: TraceCapture, title: String) -> String {
    let events = capture.events.filter { $0.processor != nil }
    let lanes = capture.processorCount
    let column = 14.0
    let left = 90.0
    let laneHeight = 90.0
    let top = 70.0
    let width = left + Double(max(events.count, 1)) * column + 40
    let height = top + Double(lanes) * laneHeight + 30
    var out = """
      <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" \
      font-family="monospace" font-size="11">
      <rect width="100%" height="100%" fill="white"/>

      """
    out += "<text x=\"10\" y=\"20\" font-size=\"14\" font-weight=\"bold\">\(escape(title))</text>\n"
    out += "<text x=\"10\" y=\"40\" fill=\"#555\">trace order left to right; boxes are miniport callbacks; "
    out += "red marks the failure</text>\n"
    for lane in 0..<lanes {
      let y = top + Double(lane) * laneHeight
      out +=
        "<line x1=\"\(left)\" y1=\"\(y + laneHeight - 10)\" x2=\"\(width - 20)\" y2=\"\(y + laneHeight - 10)\" "
      out += "stroke=\"#ccc\"/>\n<text x=\"10\" y=\"\(y + 45)\" font-weight=\"bold\">CPU \(lane)</text>\n"
    }
    var open: [Int: [(name: String, start: Int)]] = [:]
    var issued: [String: (x: Double, y: Double)] = [:]
    func x(_ i: Int) -> Double { left + Double(i) * column }
    func laneY(_ p: Int) -> Double { top + Double(p) * laneHeight }
    for (i, e) in events.enumerated() {
      let p = e.processor!.rawValue
      switch e.kind {
      case .callbackEnter:
        open[p, default: []].append((e.name, i))
      case .callbackExit:
        guard var stack = open[p], let (name, start) = stack.popLast() else { continue }
        open[p] = stack
        let depth = Double(stack.count)
        let y = laneY(p) + 10 + depth * 12
        let h = laneHeight - 25 - depth * 24
        let fill = color(name)
        out +=
          "<rect x=\"\(x(start))\" y=\"\(y)\" width=\"\(max(column, x(i) - x(start)))\" height=\"\(max(10, h))\" "
        out += "fill=\"\(fill)\" fill-opacity=\"0.55\" stroke=\"#333\"/>\n"
        out += "<text x=\"\(x(start) + 3)\" y=\"\(y + 12)\">\(escape(name))</text>\n"
      case .lockAcquire:
        out +=
          "<line x1=\"\(x(i))\" y1=\"\(laneY(p) + laneHeight - 18)\" x2=\"\(x(i))\" y2=\"\(laneY(p) + laneHeight - 10)\" "
        out += "stroke=\"#06c\" stroke-width=\"2\"><title>acquire \(escape(e.name))</title></line>\n"
      case .dpcIssue, .interruptRaise, .timerArm:
        issued[e.kind == .dpcIssue ? "dpc\(e.object)" : e.kind == .timerArm ? "timer" : "isr"] = (
          x(i), laneY(p) + laneHeight - 14
        )
      case .dpcStart, .interruptDeliver, .timerFire:
        let key = e.kind == .dpcStart ? "dpc\(e.object)" : e.kind == .timerFire ? "timer" : "isr"
        if let from = issued.removeValue(forKey: key) {
          out +=
            "<line x1=\"\(from.x)\" y1=\"\(from.y)\" x2=\"\(x(i))\" y2=\"\(laneY(p) + 8)\" stroke=\"#888\" "
          out += "stroke-dasharray=\"3,2\"/>\n"
        }
      case .violation, .diagnostic:
        out +=
          "<circle cx=\"\(x(i))\" cy=\"\(laneY(p) + 6)\" r=\"6\" fill=\"red\"><title>\(escape(e.name))</title></circle>\n"
        out += "<text x=\"\(x(i) + 8)\" y=\"\(laneY(p) + 4)\" fill=\"red\">\(escape(e.name))</text>\n"
      case .requestComplete:
        out += "<text x=\"\(x(i) - 3)\" y=\"\(laneY(p) + laneHeight - 1)\" fill=\"#080\">✓</text>\n"
      default: break
      }
    }
    return out + "</svg>\n"
  }

  static func color(_ name: String) -> String {
    if name.contains("Timer") { return "#f4b400" }
    if name.contains("StartIo") { return "#4285f4" }
    if name.contains("Dpc") || name.contains("DPC") { return "#0f9d58" }
    if name.contains("Interrupt") || name.contains("MSI") { return "#db4437" }
    return "#aaa"
  }

  static func escape(_ s: String) -> String {
    var out = ""
    for c in s {
      switch c {
      case "&": out += "&amp;"
      case "<": out += "&lt;"
      case ">": out += "&gt;"
      case "\"": out += "&quot;"
      default: out.append(c)
      }
    }
    return out
  }
}
