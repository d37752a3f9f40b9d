import Foundation
import Testing

/// The three faces of an adapter (issue 7): a miniport reaches only the StorPort* services
/// through `ext.port`; the host's operations (start, stop, submit, …) are on `Adapter` and
/// the device's (raise an interrupt) on `DeviceLink`. Checked as a driver writer's code would
/// meet it: a snippet is type-checked against the built `Storport` module.
@Suite struct FacesTests {
  static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent()

  /// Type-checks `source` against the modules this test binary was built with; returns the
  /// exit status and the diagnostics.
  static func typecheck(_ source: String) throws -> (Int32, String) {
    let build = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
    let file = URL(
      fileURLWithPath: "/tmp/storport-faces-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).swift")
    try Data(source.utf8).write(to: file)
    defer { try? FileManager.default.removeItem(at: file) }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = [
      "swiftc", "-typecheck", "-I", build.appendingPathComponent("Modules").path,
      "-Xcc",
      "-fmodule-map-file=" + build.appendingPathComponent("CStorportShim.build/module.modulemap").path,
      "-Xcc", "-I" + root.appendingPathComponent("Sources/CStorportShim/include").path, file.path,
    ]
    let err = Pipe()
    p.standardError = err
    p.standardOutput = err
    try p.run()
    let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    return (p.terminationStatus, text)
  }

  static let preamble = """
    import Storport
    final class E: DeviceExtension { required init() {} }

    """

  @Test func aMiniportCannotReachHostOrDeviceOperations() throws {
    let forbidden = [
      "ext.port.submit(r)", "ext.port.start()", "ext.port.stop()", "ext.port.restart()", "ext.port.remove()",
      "ext.port.resetBus()", "ext.port.runOnProcessor(0) {}", "ext.port.raiseInterrupt(message: 0)",
      "_ = ext.port.statistics", "_ = ext.port.state",
    ]
    for line in forbidden {
      let (status, diagnostics) = try Self.typecheck(
        Self.preamble + "func misuse(_ ext: E, _ r: StorRequest) {\n  \(line)\n}\n")
      #expect(status != 0, "a miniport could write `\(line)`")
      #expect(
        diagnostics.contains("inaccessible") || diagnostics.contains("has no member"),
        "\(line): \(diagnostics)")
    }
  }

  /// Positive control: the same harness accepts a miniport that uses only StorPort* services,
  /// and host and device code using their own faces.
  @Test func theFacesThemselvesTypeCheck() throws {
    let (status, diagnostics) = try Self.typecheck(
      Self.preamble + """
        let timer = HwTimer<E>("T") { ext in ext.port.requestTimerCall(nil, microseconds: 0) }
        let dpc = StorDpc()
        func miniport(_ ext: E, _ r: StorRequest) {
          ext.port.requestTimerCall(timer, microseconds: 1000)
          _ = ext.port.issueDpc(dpc)
          ext.port.requestComplete(r)
        }
        func host(_ adapter: Adapter, _ r: StorRequest) {
          adapter.start()
          adapter.submit(r)
          adapter.device.raiseInterrupt(message: 0)
          adapter.stop()
        }
        """)
    #expect(status == 0, "\(diagnostics)")
  }
}
