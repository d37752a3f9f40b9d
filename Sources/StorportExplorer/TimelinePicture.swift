import Foundation
import Storport

/// An SVG picture of one schedule: a lane per simulated processor, time (in trace order —
/// virtual time barely moves within a schedule) from left to right, each miniport callback a
/// box named after its routine (a preempting callback drawn inside the one it preempted),
/// lock acquisitions as ticks, DPC issues, timer arms and interrupt raises as dashed arrows to
/// the callback they start, and the findings — a verifier violation, a data race — as
/// numbered red markers listed under the lanes. The interleaving a driver writer must see to
/// believe the bug.
public enum TimelinePicture {
  static let column = 16.0
  static let left = 90.0
  static let laneHeight = 90.0
  static let top = 86.0

  /// The SVG document for `capture` with `title` ("harness: kind — detail") on top and
  /// `notes` (the racing accesses, say) under the lanes.
  public static func svg(_ capture: TraceCapture, title: String, notes: [String] = []) -> String {
    let events = capture.events.filter { $0.processor != nil }
    let lanes = capture.processorCount
    let width = left + Double(max(events.count, 1)) * column + 40
    let height = top + Double(lanes) * laneHeight + 100
    var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" "
    out +=
      "font-family=\"monospace\" font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    let parts = title.components(separatedBy: " — ")
    out += text(10, 20, parts[0], attributes: "font-size=\"14\" font-weight=\"bold\"")
    if parts.count > 1 {
      out += text(10, 38, parts.dropFirst().joined(separator: " — "), attributes: "fill=\"#b00\"")
    }
    out += text(
      10, 58,
      "trace order left to right; boxes are miniport callbacks (hover for names); ticks are lock acquisitions; "
        + "dashed arrows are DPC, timer and interrupt hand-offs; red dots are the findings",
      attributes: "fill=\"#555\"")
    for lane in 0..<lanes {
      let y = laneY(lane)
      out +=
        "<line x1=\"\(left)\" y1=\"\(y + laneHeight - 10)\" x2=\"\(width - 20)\" y2=\"\(y + laneHeight - 10)\" "
      out += "stroke=\"#ccc\"/>\n" + text(10, y + 45, "CPU \(lane)", attributes: "font-weight=\"bold\"")
    }
    var open: [Int: [(name: String, start: Int)]] = [:]
    var issued: [String: (x: Double, y: Double)] = [:]
    var legend: [String] = []
    for (i, e) in events.enumerated() {
      let p = e.processor!.rawValue
      switch e.kind {
      case .callbackEnter:
        open[p, default: []].append((e.name, i))
      case .callbackExit:
        guard var stack = open[p], let (name, start) = stack.popLast() else { continue }
        open[p] = stack
        out += box(name, from: start, to: i, lane: p, depth: stack.count)
      case .lockAcquire:
        out += "<line x1=\"\(x(i))\" y1=\"\(laneY(p) + laneHeight - 18)\" x2=\"\(x(i))\" "
        out += "y2=\"\(laneY(p) + laneHeight - 10)\" stroke=\"#06c\" stroke-width=\"2\">"
        out += "<title>acquire \(escape(e.name))</title></line>\n"
      case .dpcIssue, .interruptRaise, .timerArm:
        issued[handOffKey(e)] = (x(i), laneY(p) + laneHeight - 14)
      case .dpcStart, .interruptDeliver, .timerFire:
        if let from = issued.removeValue(forKey: handOffKey(e)) {
          out +=
            "<line x1=\"\(from.x)\" y1=\"\(from.y)\" x2=\"\(x(i))\" y2=\"\(laneY(p) + 8)\" stroke=\"#888\" "
          out += "stroke-dasharray=\"3,2\"/>\n"
        }
      case .violation, .diagnostic:
        legend.append("\(legend.count + 1): CPU \(p) — \(e.name)")
        out +=
          "<circle cx=\"\(x(i))\" cy=\"\(laneY(p) + 4)\" r=\"7\" fill=\"red\"><title>\(escape(e.name))</title></circle>\n"
        out += text(x(i) - 3, laneY(p) + 8, "\(legend.count)", attributes: "fill=\"white\" font-size=\"10\"")
      case .requestComplete:
        out += text(x(i) - 3, laneY(p) + laneHeight - 1, "✓", attributes: "fill=\"#080\"")
      default: break
      }
    }
    // Callbacks still open at the end (a processor stuck in one) run to the right edge.
    for (p, stack) in open {
      for (depth, entry) in stack.enumerated() {
        out += box(
          entry.name + " (never returned)", from: entry.start, to: events.count, lane: p, depth: depth)
      }
    }
    for (k, line) in (legend.prefix(6) + notes).enumerated() {
      out += text(
        10, top + Double(lanes) * laneHeight + 14 + Double(k) * 14, line, attributes: "fill=\"#b00\"")
    }
    return out + "</svg>\n"
  }

  static func x(_ i: Int) -> Double { left + Double(i) * column }
  static func laneY(_ p: Int) -> Double { top + Double(p) * laneHeight }

  static func handOffKey(_ e: TraceEvent) -> String {
    switch e.kind {
    case .dpcIssue, .dpcStart: return "dpc\(e.object)"
    case .timerArm, .timerFire: return "timer"
    default: return "isr"
    }
  }

  /// A callback's box with its label across it when it fits, else down its left edge, cut.
  static func box(_ name: String, from start: Int, to end: Int, lane p: Int, depth: Int) -> String {
    let y = laneY(p) + 10 + Double(depth) * 12
    let h = max(10, laneHeight - 25 - Double(depth) * 24)
    let w = max(column, x(end) - x(start))
    var out = "<rect x=\"\(x(start))\" y=\"\(y)\" width=\"\(w)\" height=\"\(h)\" fill=\"\(color(name))\" "
    out += "fill-opacity=\"0.55\" stroke=\"#333\"><title>\(escape(name))</title></rect>\n"
    let label = short(name)
    if Double(label.count) * 6.7 + 6 <= w {
      out += text(x(start) + 3, y + 12, label)
    } else {
      let fits = max(1, Int((h - 4) / 6.2))
      let cut = label.count > fits ? String(label.prefix(fits - 1)) + "…" : label
      out += "<text font-size=\"10\" transform=\"translate(\(x(start) + 5),\(y + 3)) rotate(90)\">"
      out += "\(escape(cut))</text>\n"
    }
    return out
  }

  static func text(_ x: Double, _ y: Double, _ s: String, attributes: String = "") -> String {
    "<text x=\"\(x)\" y=\"\(y)\" \(attributes)>\(escape(s))</text>\n"
  }

  /// A callback's name without the prefix its colour already gives ("HwStorStartIo" → "StartIo").
  static func short(_ name: String) -> String {
    if name.hasPrefix("HwStorTimer ") { return String(name.dropFirst("HwStorTimer ".count)) }
    if name.hasPrefix("HwStor") && name.count > 6 { return String(name.dropFirst(6)) }
    return name
  }

  static func color(_ name: String) -> String {
    if name.contains("Timer") { return "#f4b400" }
    if name.contains("StartIo") { return "#4285f4" }
    if name.contains("Dpc") || name.contains("DPC") { return "#0f9d58" }
    if name.contains("Interrupt") || name.contains("MSI") { return "#db4437" }
    if name.contains("ResetBus") { return "#ab47bc" }
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
