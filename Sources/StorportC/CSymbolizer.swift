import CStorportMiniport
import Foundation
import Storport

/// Source locations of a C miniport's instructions: an access is recorded as
/// "module+0xoffset" (cheap: one `dladdr` per instruction address, then cached), and turned
/// into "file.c:42 (function)" only when a race report names it — by `addr2line` (binutils) or
/// `llvm-symbolizer` from the miniport's debug information (`-g`). Without either tool or
/// without debug information, the report keeps the function name or the module offset.
final class CSymbolizer: @unchecked Sendable {
  static let shared = CSymbolizer()

  private let machine = Locked<[UInt64: String]>([:])
  private let source = Locked<[String: String]>([:])

  /// "module.so+0x1a2b" for the instruction before return address `pc` (the access itself).
  func machineLocation(_ pc: UInt64) -> String {
    if let s = machine.withLock({ $0[pc] }) { return s }
    var file: UnsafePointer<CChar>? = nil
    var base: UnsafeMutableRawPointer? = nil
    let s: String
    if storport_symbol_of(UnsafeRawPointer(bitPattern: UInt(pc)), nil, &file, &base) != 0, let file {
      let offset = pc &- UInt64(UInt(bitPattern: base)) &- 1
      s = String(cString: file) + "+0x" + String(offset, radix: 16)
    } else {
      s = "0x" + String(pc, radix: 16)
    }
    machine.withLock { $0[pc] = s }
    return s
  }

  /// "timer.c:42 (RacyWatchdogTimer)" for a machine location, or the location unchanged.
  func resolve(_ location: String) -> String {
    guard let plus = location.range(of: "+0x", options: .backwards) else { return location }
    if let s = source.withLock({ $0[location] }) { return s }
    let module = String(location[..<plus.lowerBound])
    let offset = String(location[plus.upperBound...])
    var resolved = location
    if let out = Self.run("/usr/bin/addr2line", ["-f", "-s", "-e", module, "0x" + offset])
      ?? Self.run("llvm-symbolizer", ["--obj=" + module, "0x" + offset])
    {
      let lines = out.split(separator: "\n").map(String.init)
      if lines.count >= 2 {
        let function = lines[0]
        var place = lines[1]
        // llvm-symbolizer prints file:line:column; keep file:line, file name only.
        let parts = place.split(separator: ":")
        if parts.count >= 2 {
          place =
            (String(parts[0]).split(separator: "/").last.map(String.init) ?? String(parts[0])) + ":"
            + parts[1]
        }
        if !place.hasPrefix("?") && !place.hasPrefix("??") {
          resolved = "\(place) (\(function))"
        } else if function != "??" {
          resolved = "\(function) in \(location)"
        }
      }
    }
    source.withLock { $0[location] = resolved }
    return resolved
  }

  private static func run(_ tool: String, _ arguments: [String]) -> String? {
    let process = Process()
    if tool.hasPrefix("/") {
      guard FileManager.default.isExecutableFile(atPath: tool) else { return nil }
      process.executableURL = URL(fileURLWithPath: tool)
      process.arguments = arguments
    } else {
      process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
      process.arguments = [tool] + arguments
    }
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    do { try process.run() } catch { return nil }
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { return nil }
    return String(decoding: data, as: UTF8.self)
  }
}
