import Foundation
import Storport

/// A failing schedule on disk (versioned JSON): the harness and its parameters, the strategy
/// and seed that found it, the runtime's version, and the decisions — replaying them with
/// `storport replay FILE` reproduces the run exactly.
public struct ScheduleFile: Codable, Sendable, Equatable {
  /// Always "storport-schedule".
  public var format = "storport-schedule"
  /// The file format's version (this is 1).
  public var version = 1
  /// The swift-storport version that wrote it (replay on another version may diverge).
  public var runtimeVersion: String
  public var harness: String
  public var processors: Int
  /// "random", "pct" or "dfs", with its parameter.
  public var strategy: String
  public var depth: Int?
  public var preemptionBound: Int?
  public var switchPercent: Int?
  /// The exploration's base seed and this schedule's index in it.
  public var seed: UInt64
  public var scheduleIndex: Int
  public var maxSteps: UInt64
  /// Whether pollers competed with runnable processors when the decisions were taken.
  public var pollersCompete: Bool
  /// Whether the race detector ran (it decides which failure a run reports first).
  public var raceDetection: Bool
  /// The decisions (shrunk, when shrinking ran).
  public var decisions: [ScheduleDecision]
  /// The failure the decisions lead to.
  public var failure: ExplorationFailure?
  /// Size of the schedule as found, before shrinking.
  public var originalDecisions: Int
  public var originalPreemptions: Int

  public static let currentVersion = 1

  /// Reads and checks a schedule file.
  public static func read(path: String) throws(ScheduleFileError) -> ScheduleFile {
    let file = try VersionedJSON.read(
      ScheduleFile.self, path: path, format: "storport-schedule", version: currentVersion,
      what: "schedule file")
    guard (1...64).contains(file.processors), file.maxSteps > 0 else {
      throw ScheduleFileError("\(path): processors must be 1...64 and max_steps positive")
    }
    return file
  }

  /// The file's JSON: stable key order, the header fields one per line, then the decisions
  /// one per line.
  public func json() -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    encoder.keyEncodingStrategy = .convertToSnakeCase
    // Encoding plain values cannot fail.
    func encode<T: Encodable>(_ v: T) -> String { String(decoding: try! encoder.encode(v), as: UTF8.self) }
    var header = self
    header.decisions = []
    var fields = encode(header).dropFirst().dropLast()  // without { }
    fields = fields.replacingOccurrences(of: "\"decisions\":[],", with: "")[...]
    let lines = splitTopLevel(String(fields)).map { "  " + $0 }
    let decisionLines = decisions.map { "    " + encode($0) }.joined(separator: ",\n")
    return "{\n" + lines.joined(separator: ",\n") + ",\n  \"decisions\": [\n" + decisionLines + "\n  ]\n}\n"
  }

  /// Splits `a:1,"b":{"c":2,"d":3},e:4` at the commas outside nested objects and strings.
  private func splitTopLevel(_ s: String) -> [String] {
    var parts: [String] = []
    var current = ""
    var depth = 0
    var inString = false
    var escaped = false
    for ch in s {
      if inString {
        if escaped {
          escaped = false
        } else if ch == "\\" {
          escaped = true
        } else if ch == "\"" {
          inString = false
        }
      } else if ch == "\"" {
        inString = true
      } else if ch == "{" || ch == "[" {
        depth += 1
      } else if ch == "}" || ch == "]" {
        depth -= 1
      } else if ch == "," && depth == 0 {
        parts.append(current)
        current = ""
        continue
      }
      current.append(ch)
    }
    if !current.isEmpty { parts.append(current) }
    return parts
  }

  static func describe(_ error: Error) -> String {
    switch error {
    case DecodingError.keyNotFound(let key, _): return "missing field \"\(snakeCase(key.stringValue))\""
    case DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c),
      DecodingError.dataCorrupted(let c):
      let path = c.codingPath.map { $0.intValue.map { "[\($0)]" } ?? snakeCase($0.stringValue) }
      let at =
        path.isEmpty ? "the top level" : path.joined(separator: ".").replacingOccurrences(of: ".[", with: "[")
      // A number out of range for its field (a rank of 70000) reads as "not valid JSON" in
      // Foundation's words; say what it is.
      let what =
        c.debugDescription.contains("not valid JSON") && !path.isEmpty
        ? "a value out of range or of the wrong type" : c.debugDescription
      return "bad value at \(at): \(what)"
    default: return "\(error)"
    }
  }

  /// `runtimeVersion` as the file spells it: `runtime_version`.
  static func snakeCase(_ name: String) -> String {
    var out = ""
    for c in name {
      if c.isUppercase {
        out += "_" + c.lowercased()
      } else {
        out.append(c)
      }
    }
    return out
  }

  enum CodingKeys: String, CodingKey {
    case format, version, runtimeVersion, harness, processors, strategy, depth, preemptionBound
    case switchPercent, seed, scheduleIndex, maxSteps, pollersCompete, raceDetection, decisions, failure
    case originalDecisions, originalPreemptions
  }
}

/// A schedule file that cannot be used: the path and what is wrong.
public struct ScheduleFileError: Error, CustomStringConvertible, Equatable {
  public let description: String
  public init(_ description: String) { self.description = description }
}
