import Foundation
import StorportC
import Testing

/// `--miniport PATH.so` as a user types it: the C samples through `storport run`, `bench io`
/// and `explore` / `replay`, and the command-line mistakes, each one line and exit status 2.
@Suite struct CMiniportCommandTests {
  static func build(_ file: String, instrumented: Bool = false) throws -> String {
    let name = (file.split(separator: "/").last.map(String.init) ?? file).replacingOccurrences(
      of: ".c", with: "")
    return try CMiniportBuild.build(
      [CMiniportBuild.samplesDirectory + "/" + file], name: "cli-" + name + (instrumented ? "-tsan" : ""),
      instrumented: instrumented)
  }

  @Test func runWithTheCRamDisk() throws {
    let so = try Self.build("ramdisk.c")
    let r = try CLIProcess.run(["run", "--miniport", so, "--simulated", "--seed", "3", "--runtime", "20ms"])
    #expect(r.status == 0, "\(r.err)")
    #expect(r.out.contains("miniport cli-ramdisk"), "\(r.out.prefix(300))")
    #expect(r.out.contains("verifier: PASS"))
    #expect(r.out.contains("0 mismatches"))
  }

  @Test func benchIoWithTheCNvmeMiniport() throws {
    let so = try Self.build("nvme/nvme.c")
    let r = try CLIProcess.run([
      "bench", "io", "--miniport", so, "--simulated", "--seed", "5", "--runtime", "20ms", "--rw", "randrw",
      "--bs", "64k", "--verify", "crc32c",
    ])
    #expect(r.status == 0, "\(r.err)")
    #expect(r.out.contains("result: PASS"), "\(r.out.suffix(400))")
    #expect(r.out.contains("device commands"))
  }

  @Test func exploreFindsTheCRaceAndReplayReproducesIt() throws {
    let so = try Self.build("fixtures/timer_startio_race.c", instrumented: true)
    let out = NSTemporaryDirectory() + "storport-c-explore-\(getpid())"
    defer { try? FileManager.default.removeItem(atPath: out) }
    let r = try CLIProcess.run([
      "explore", "--miniport", so, "--workload", "requests", "--device", "none", "--schedules", "200",
      "--out", out,
    ])
    #expect(r.status == 1, "\(r.err)")
    #expect(r.out.contains("data-race"), "\(r.out.prefix(400))")
    #expect(r.out.contains("timer_startio_race.c:"))
    let replay = try CLIProcess.run(["replay", out + "/schedule.json"])
    #expect(replay.status == 1, "\(replay.err)")
    #expect(replay.out.contains("REPRODUCED"), "\(replay.out.prefix(300))")
  }

  @Test func commandLineMistakesAreOneLineAndStatusTwo() throws {
    let cases: [([String], String)] = [
      (["bench", "io", "--miniport", "/nonexistent/driver.so"], "no such file"),
      (["run", "--miniport", "/tmp"], "not a regular file"),
      (["bench", "io", "--miniport-args", "DiskSize=1m"], "applies only with --miniport PATH.so"),
      (["explore", "--miniport-args", "A=1", "timer-startio-race"], "applies only with --miniport PATH.so"),
      (["explore", "--workload", "requests", "timer-startio-race"], "applies only with --miniport PATH.so"),
    ]
    for (arguments, message) in cases {
      let r = try CLIProcess.run(arguments)
      #expect(r.status == 2, "\(arguments): \(r.err)")
      #expect(r.err.contains(message), "\(arguments): \(r.err)")
      #expect(r.err.split(separator: "\n").count == 1, "\(arguments): \(r.err)")
    }
    let ramdisk = try Self.build("ramdisk.c")
    for (arguments, message) in [
      (
        ["bench", "io", "--miniport", ramdisk, "--miniport-args", "DiskSize=1m"],
        "DiskSize is set from --size"
      ),
      (["explore", "--miniport", ramdisk, "--device", "nvme"], "is a virtual miniport"),
    ] {
      let r = try CLIProcess.run(arguments)
      #expect(r.status == 2, "\(arguments): \(r.err)")
      #expect(r.err.contains(message), "\(arguments): \(r.err)")
    }
    // A file that is no miniport: the loader's reason, not a crash.
    let text = NSTemporaryDirectory() + "not-a-driver-\(getpid()).so"
    try "text".write(toFile: text, atomically: true, encoding: .utf8)
    defer { unlink(text) }
    let r = try CLIProcess.run(["bench", "io", "--miniport", text, "--simulated", "--runtime", "10ms"])
    #expect(r.status == 2, "\(r.err)")
    #expect(r.err.contains("cannot be loaded"), "\(r.err)")
  }
}
