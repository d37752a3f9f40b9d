import Foundation

/// Where the C interface's headers are, and building C miniports with them — the documented
/// command, `cc -shared -fPIC -g -O2 -I "$(storport --include-dir)" miniport.c -o miniport.so`
/// (with `-fsanitize=thread` for the explorer's race detector on the miniport's own memory).
/// ``build(_:name:instrumented:extraFlags:directory:)`` runs it for the tests, at -O1 with
/// `-Wall -Wextra -Werror`.
public enum CMiniportBuild {
  /// The source tree this binary was built from (the package root).
  public static var packageRoot: String {
    // …/Sources/StorportC/CMiniportBuild.swift
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
  }

  /// storport.h, srb.h, srbhelper.h, scsi.h, miniport.h, sal.h. `STORPORT_INCLUDE_DIR`
  /// overrides (an installed copy).
  public static var includeDirectory: String {
    if let dir = ProcessInfo.processInfo.environment["STORPORT_INCLUDE_DIR"], !dir.isEmpty { return dir }
    return packageRoot + "/Sources/CStorportMiniport/include"
  }

  /// The in-tree C miniports and fixtures.
  public static var samplesDirectory: String { packageRoot + "/miniports" }

  /// Why a build failed: the compiler's own words.
  public struct Failure: Error, CustomStringConvertible {
    public let command: String
    public let output: String
    public var description: String { "\(command)\n\(output)" }
  }

  /// A C compiler: `CC`, else the clang beside the Swift toolchain, else `cc`.
  public static var compiler: String {
    if let cc = ProcessInfo.processInfo.environment["CC"], !cc.isEmpty { return cc }
    for candidate in ["/opt/swift/usr/bin/clang", "/usr/bin/clang", "/usr/bin/cc"]
    where FileManager.default.isExecutableFile(atPath: candidate) {
      return candidate
    }
    return "cc"
  }

  /// Compiles `sources` into a shared object in `directory` (default: a cache under the
  /// system temporary directory), reusing an earlier build of the same sources, headers and
  /// flags.
  /// - Parameters:
  ///   - sources: C files.
  ///   - name: the file name's stem (a content digest is appended).
  ///   - instrumented: `-fsanitize=thread`: plain loads and stores reach the race detector.
  ///   - extraFlags: more compiler flags.
  /// - Returns: the shared object's path.
  /// - Throws: ``Failure`` with the compiler's output; a file-system error creating `directory`.
  public static func build(
    _ sources: [String], name: String, instrumented: Bool = false, extraFlags: [String] = [],
    directory: String? = nil
  ) throws -> String {
    var flags = ["-shared", "-fPIC", "-g", "-O1", "-Wall", "-Wextra", "-Werror", "-I", includeDirectory]
    if instrumented { flags.append("-fsanitize=thread") }
    flags += extraFlags
    var fingerprint = flags.joined(separator: " ")
    for s in sources {
      fingerprint += (try? String(contentsOfFile: s, encoding: .utf8)) ?? s
    }
    for h in (try? FileManager.default.contentsOfDirectory(atPath: includeDirectory)) ?? [] {
      fingerprint += (try? String(contentsOfFile: includeDirectory + "/" + h, encoding: .utf8)) ?? h
    }
    let digest = fingerprint.utf8.reduce(UInt64(0xcbf2_9ce4_8422_2325)) {
      ($0 ^ UInt64($1)) &* 0x100_0000_01b3
    }
    let dir = directory ?? (NSTemporaryDirectory() + "storport-miniports")
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let output = "\(dir)/\(name)-\(String(digest, radix: 16)).so"
    if FileManager.default.fileExists(atPath: output) { return output }
    let partial = output + ".\(getpid()).tmp"
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [compiler] + flags + sources + ["-o", partial]
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
      try? FileManager.default.removeItem(atPath: partial)
      throw Failure(command: ([compiler] + flags + sources).joined(separator: " "), output: text)
    }
    do { try FileManager.default.moveItem(atPath: partial, toPath: output) } catch {
      // Another process built the same object meanwhile.
      try? FileManager.default.removeItem(atPath: partial)
      guard FileManager.default.fileExists(atPath: output) else { throw error }
    }
    return output
  }
}
