import StorportCLI
import Testing

/// `storport serve`'s options: every bad value is refused before anything listens, with exit
/// status 2 and one line naming the option, the value and what is accepted; good ones parse.
@Suite struct ServeCommandTests {
  @Test(arguments: [
    (["serve", "--iscsi", "127.0.0.1"], "--iscsi", "127.0.0.1"),
    (["serve", "--iscsi", "127.0.0.1:70000"], "--iscsi", "127.0.0.1:70000"),
    (["serve", "--nbd", ":10809"], "--nbd", ":10809"),
    (["serve", "--metrics", "localhost"], "--metrics", "localhost"),
    (["serve", "--metrics", "127.0.0.1:x"], "--metrics", "127.0.0.1:x"),
    (["serve", "--listen", ""], "--listen", ""),
    (["serve", "--spin-us", "fast"], "--spin-us", "fast"),
    (["serve", "--spin-us", "1000001"], "--spin-us", "1000001"),
    (["serve", "--processors", "0"], "--processors", "0"),
    (["serve", "--latency", "9-3"], "--latency", "9-3"),
    (["serve", "--fault", "melt"], "--fault", "melt"),
    (["serve", "--lun1", "nvme"], "--lun1", "nvme"),
    (["serve", "--target-name", "disk"], "--target-name", "disk"),
    (["serve", "--size", "0"], "--size", "0"),
    (["serve", "--allow-initiator", ""], "--allow-initiator", ""),
    (["serve", "--nop-interval", "3601"], "--nop-interval", "3601"),
    (["serve", "--nop-interval=-1"], "--nop-interval", "-1"),
    // Out of range after parsing: quoted as typed, not as the bytes it parsed to.
    (["serve", "--size", "99999t"], "--size", "99999t"),
    (["serve", "--size", "3k", "--logical-block-size", "4096"], "--size", "3k"),
    // A value with a leading dash is the option's value (as getopt takes it), not a flag:
    // it was "Missing value for '--size <size>'".
    (["serve", "--size", "-5m"], "--size", "-5m"),
    (["serve", "--processors", "-2"], "--processors", "-2"),
    (["serve", "--stuck-ms", "-1"], "--stuck-ms", "-1"),
  ])
  func badValuesAreRefusedBeforeAnythingListens(args: [String], option: String, value: String) {
    CommandLineTests.expectRefused(args, option: option, value: value)
  }

  @Test func combinationsThatCannotWorkAreRefused() {
    CommandLineTests.expectRefused(["serve", "--iscsi", "off", "--nbd", "off"], option: "--nbd")
    CommandLineTests.expectRefused(["serve", "--miniport", "ramdisk", "--fault", "fatal"], option: "--fault")
    CommandLineTests.expectRefused(["serve", "--chap-file", "/nonexistent/chap"], option: "--chap-file")
    CommandLineTests.expectRefused(["serve", "--chap-file", "/tmp"], option: "--chap-file", value: "/tmp")
    // A device slower than the NVMe watchdog would never complete a command.
    CommandLineTests.expectRefused(["serve", "--latency", "60000"], option: "--latency")
  }

  @Test func goodValuesParse() {
    for args in [
      ["serve"],
      ["serve", "--iscsi", "off", "--nbd", "0.0.0.0:10810", "--metrics", "127.0.0.1:9100"],
      [
        "serve", "--spin-us", "poll", "--processors", "1", "--latency", "10-20", "--fault", "drop-completion",
      ],
      ["serve", "--iscsi", "[::1]:3260", "--lun1", "off", "--target-name", "iqn.2026-11.org.example:disk"],
      ["serve", "--nop-interval", "0"],
      ["serve", "--readonly"],
      ["serve", "--size", "4k", "--logical-block-size", "512"],
      ["serve", "--latency", "60000", "--stuck-ms", "100"],
    ] {
      #expect(CommandLineTests.rejection(args) == nil, "refused: \(args)")
    }
  }

  /// A device latency the NVMe watchdog would call stuck is refused, and the message says
  /// which way to go (it read as if the latency were already below the limit).
  @Test func aLatencyBeyondTheWatchdogIsRefusedSayingWhichWay() throws {
    let r = try #require(CommandLineTests.rejection(["serve", "--latency", "9000000"]))
    #expect(r.status == 2)
    #expect(
      r.message.contains("--latency")
        && r.message.contains("must stay below the NVMe watchdog's --stuck-ms (50 ms)"))
    #expect(r.message.contains("at 9000 ms"), "the latency asked for: \(r.message)")
  }
}
