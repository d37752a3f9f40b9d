import Foundation
import Testing

/// Keeps the conformance table honest: every spec §13 rule (1–75) and decision (D1–D17) has at
/// least one test whose name carries it, and docs/conformance.md lists exactly those tests
/// (regenerate with `python3 scripts/rule-table.py`).
@Suite struct RuleTableTests {
  static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent()

  /// rule key ("rule07", "d05") → test names, from the test sources.
  static func testsByRule() throws -> [String: Set<String>] {
    var out: [String: Set<String>] = [:]
    let testsDir = root.appendingPathComponent("Tests")
    let files = FileManager.default.enumerator(atPath: testsDir.path)!.compactMap { $0 as? String }
    let testDecl = try NSRegularExpression(pattern: #"@Test func ((?:rule\d\d|d\d\d)\w*)\("#)
    let key = try NSRegularExpression(pattern: #"(rule\d\d|d\d\d)"#)
    for f in files where f.hasSuffix(".swift") {
      let text = try String(contentsOf: testsDir.appendingPathComponent(f), encoding: .utf8)
      for m in testDecl.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
        let name = String(text[Range(m.range(at: 1), in: text)!])
        let prefix = name.components(separatedBy: "_live").first!
        for k in key.matches(in: prefix, range: NSRange(prefix.startIndex..., in: prefix)) {
          out[String(prefix[Range(k.range, in: prefix)!]), default: []].insert(name)
        }
      }
    }
    return out
  }

  static let allKeys =
    (1...75).map { String(format: "rule%02d", $0) } + (1...17).map { String(format: "d%02d", $0) }

  @Test func everyRuleAndDecisionHasATest() throws {
    let tests = try Self.testsByRule()
    let missing = Self.allKeys.filter { tests[$0]?.isEmpty ?? true }
    #expect(missing.isEmpty, "rules without a test: \(missing)")
  }

  @Test func conformanceTableListsEveryTest() throws {
    let table = try String(
      contentsOf: Self.root.appendingPathComponent("docs/conformance.md"), encoding: .utf8)
    let tests = try Self.testsByRule()
    for key in Self.allKeys {
      let label = key.hasPrefix("rule") ? "| \(Int(key.dropFirst(4))!) |" : "| D\(Int(key.dropFirst(1))!) |"
      let row = table.split(separator: "\n").first { $0.hasPrefix(label) }.map(String.init) ?? ""
      for name in tests[key] ?? [] {
        #expect(
          row.contains("`\(name)`"),
          "docs/conformance.md row \(label) lacks \(name); run scripts/rule-table.py")
      }
    }
  }

  /// A table regenerated without the spec would have blank statements: every rule row must
  /// carry its statement.
  @Test func everyRuleRowCarriesItsStatement() throws {
    let table = try String(
      contentsOf: Self.root.appendingPathComponent("docs/conformance.md"), encoding: .utf8)
    for i in 1...75 {
      let row = table.split(separator: "\n").first { $0.hasPrefix("| \(i) |") }.map(String.init) ?? ""
      let cells = row.split(separator: "|", omittingEmptySubsequences: false).map {
        $0.trimmingCharacters(in: .whitespaces)
      }
      #expect(
        cells.count >= 4 && !cells[2].isEmpty, "rule \(i) has no statement in docs/conformance.md: \(row)")
    }
  }

  /// scripts/rule-table.py refuses to run without the spec (it used to blank every
  /// statement). Run on a copy of the script in a scratch tree, so a regression cannot
  /// overwrite the real table.
  @Test func theTableScriptFailsWithoutTheSpec() throws {
    let fm = FileManager.default
    let scratch = URL(fileURLWithPath: "/tmp/storport-ruletable-\(getpid())")
    try? fm.removeItem(at: scratch)
    defer { try? fm.removeItem(at: scratch) }
    for d in ["scripts", "docs", "Tests"] {
      try fm.createDirectory(at: scratch.appendingPathComponent(d), withIntermediateDirectories: true)
    }
    try fm.copyItem(
      at: Self.root.appendingPathComponent("scripts/rule-table.py"),
      to: scratch.appendingPathComponent("scripts/rule-table.py"))
    let table = scratch.appendingPathComponent("docs/conformance.md")
    try Data("sentinel".utf8).write(to: table)
    func run(spec: String) throws -> (Int32, String) {
      let p = Process()
      p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
      p.arguments = ["python3", scratch.appendingPathComponent("scripts/rule-table.py").path]
      var env = ProcessInfo.processInfo.environment
      env["STORPORT_SPEC"] = spec
      p.environment = env
      let err = Pipe()
      p.standardError = err
      try p.run()
      p.waitUntilExit()
      return (
        p.terminationStatus, String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
      )
    }
    let (status, message) = try run(spec: "/nonexistent/storport-spec.md")
    #expect(status != 0)
    #expect(message.contains("/nonexistent/storport-spec.md"), "\(message)")
    #expect(try String(contentsOf: table, encoding: .utf8) == "sentinel", "the table was left unchanged")
    // Positive control: with a spec (one statement per rule), the same copy does write.
    let spec = scratch.appendingPathComponent("spec.md")
    try Data((1...75).map { "\($0). statement \($0) — source" }.joined(separator: "\n").utf8).write(to: spec)
    _ = try run(spec: spec.path)
    #expect(try String(contentsOf: table, encoding: .utf8).contains("statement 42"))
  }
}
