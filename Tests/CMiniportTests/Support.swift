import Foundation
import StorportC
import Testing

/// Builds the in-tree C miniports and fixtures once per test process (cached by content).
enum Samples {
  static func path(_ file: String) -> String { CMiniportBuild.samplesDirectory + "/" + file }

  static func build(_ file: String, instrumented: Bool = false, flags: [String] = []) throws -> String {
    let name = (file.split(separator: "/").last.map(String.init) ?? file).replacingOccurrences(
      of: ".c", with: "")
    return try CMiniportBuild.build(
      [path(file)], name: name + (instrumented ? "-tsan" : ""), instrumented: instrumented, extraFlags: flags)
  }

  static func load(_ file: String, instrumented: Bool = false) throws -> CMiniportLibrary {
    try CMiniportLibrary.load(path: build(file, instrumented: instrumented))
  }

  /// Compiles a C snippet (given inline) into a shared object.
  static func compile(_ source: String, name: String, instrumented: Bool = false) throws -> String {
    let dir = NSTemporaryDirectory() + "storport-snippets"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let digest = source.utf8.reduce(UInt64(0xcbf2_9ce4_8422_2325)) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
    let file = "\(dir)/\(name)-\(String(digest, radix: 16)).c"
    try source.write(toFile: file, atomically: true, encoding: .utf8)
    return try CMiniportBuild.build([file], name: name, instrumented: instrumented)
  }
}
