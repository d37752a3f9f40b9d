import Storport
import StorportCLI
import StorportWorkload
import Testing

/// Every input a new user tried that crashed, was silently rewritten or was misleading
/// (issue 6) — each must be refused before any work starts, with exit status 2 and one line
/// naming the option, the value and what is accepted. In-process: parsing and validation
/// only, nothing runs.
@Suite struct CommandLineTests {
  /// The rejection of `args`, or nil if they parse and validate.
  static func rejection(_ args: [String]) -> StorportCommand.Rejection? {
    do {
      _ = try StorportCommand.parse(arguments: args)
      return nil
    } catch { return error }
  }

  /// Asserts that `args` are refused with status 2 and a one-line message naming `option`
  /// (and `value`, when given).
  static func expectRefused(
    _ args: [String], option: String, value: String? = nil, sourceLocation: SourceLocation = #_sourceLocation
  ) {
    guard let r = rejection(args) else {
      Issue.record("accepted: storport \(args.joined(separator: " "))", sourceLocation: sourceLocation)
      return
    }
    #expect(r.status == 2, "status \(r.status) for \(args): \(r.message)", sourceLocation: sourceLocation)
    #expect(!r.message.contains("\n"), "more than one line: \(r.message)", sourceLocation: sourceLocation)
    #expect(
      r.message.contains(option), "\(r.message) does not name \(option)", sourceLocation: sourceLocation)
    if let value {
      #expect(
        r.message.contains("'\(value)'"), "\(r.message) does not quote '\(value)'",
        sourceLocation: sourceLocation)
    }
  }

  // MARK: inputs that trapped (exit 132) before

  @Test(arguments: [
    (["bench", "io", "--bs", "0"], "--bs", "0"),
    (["bench", "io", "--iodepth", "0"], "--iodepth", "0"),
    (["bench", "io", "--jobs", "0"], "--numjobs", "0"),
    (["bench", "io", "--numjobs", "0"], "--numjobs", "0"),
    (["bench", "io", "--runtime=-1"], "--runtime", "-1"),
    (["bench", "io", "--runtime", "nan"], "--runtime", "nan"),
    (["bench", "io", "--runtime", "inf"], "--runtime", "inf"),
    (["bench", "io", "--bs", "99999999t"], "--bs", "99999999t"),
    (["bench", "io", "--size", "99999999999999999999"], "--size", "99999999999999999999"),
    (["bench", "io", "--size", "17000000t"], "--size", "17000000t"),
    (["bench", "memory", "--disk", "0"], "--size", "0"),
    (["bench", "memory", "--size", "1p"], "--size", "1p"),
    (["demo", "--outstanding=-3"], "--outstanding", "-3"),
    (["demo", "--outstanding", "0"], "--outstanding", "0"),
    (["demo", "--channels", "0"], "--channels", "0"),
    (["demo", "--timer-us", "0"], "--timer-us", "0"),
    (["demo", "--duration-ms=-5"], "--duration-ms", "-5"),
    (["run", "--duration-ms", "0"], "--duration-ms", "0"),
    (["run", "--runtime", "0"], "--runtime", "0"),
    (["demo", "--runtime", "nan"], "--runtime", "nan"),
    (["run", "--runtime", "1", "--duration-ms", "5"], "--duration-ms", "5"),
    (["bench", "runtime", "--samples", "0"], "--samples", "0"),
  ])
  func trappingInputsAreRefused(args: [String], option: String, value: String) {
    Self.expectRefused(args, option: option, value: value)
  }

  @Test(arguments: [["run"], ["demo"], ["bench", "io"]])
  func processorsOutside1To64AreRefusedEverywhere(command: [String]) {
    for bad in ["0", "65", "-1", "1000", "abc", "2.5"] {
      Self.expectRefused(command + ["--processors=\(bad)"], option: "--processors", value: bad)
      Self.expectRefused(
        command + ["--simulated", "--processors=\(bad)"], option: "--processors", value: bad)
    }
    #expect(Self.rejection(command + ["--processors", "64"]) == nil)
    #expect(Self.rejection(command + ["--processors", "1"]) == nil)
  }

  @Test func liveDefaultProcessorCountIsAtMost64() {
    #expect(LivePlatform.defaultProcessorCount(hostCores: 128) == 64)
    #expect(LivePlatform.defaultProcessorCount(hostCores: 65) == 64)
    #expect(LivePlatform.defaultProcessorCount(hostCores: 2) == 2)
    #expect(LivePlatform.defaultProcessorCount(hostCores: 0) == 1)
    #expect((1...64).contains(LivePlatform.defaultProcessorCount))
  }

  // MARK: inputs that were silently accepted or rewritten

  @Test(arguments: [
    (["bench", "io", "--bs", "4.5k"], "--bs", "4.5k"),
    (["bench", "io", "--bs", "4kx"], "--bs", "4kx"),
    (["bench", "io", "--bs=-4k"], "--bs", "-4k"),
    (["bench", "io", "--bs", "1000"], "--bs", "1000"),  // not a multiple of 4096
    (["bench", "io", "--miniport", "nvme", "--bs", "256k"], "--bs", "256k"),  // over MaximumTransferLength
    (["bench", "io", "--size", "abc"], "--size", "abc"),
    (["bench", "io", "--size", ""], "--size", ""),
    (["bench", "io", "--rwmixread", "150"], "--rwmixread", "150"),
    (["bench", "io", "--rwmixread=-5"], "--rwmixread", "-5"),
    (["bench", "io", "--miniport", "nvme", "--latency", "abc"], "--latency", "abc"),
    (["bench", "io", "--miniport", "nvme", "--latency", "5-1"], "--latency", "5-1"),
    (["bench", "io", "--miniport", "nvme", "--latency", "1-2-3"], "--latency", "1-2-3"),
    (
      ["bench", "io", "--miniport", "nvme", "--fault", "fatal", "--fault-ppm", "2000000"], "--fault-ppm",
      "2000000"
    ),
    (["bench", "io", "--miniport", "nvme", "--fault", "fatal", "--fault-ppm", "0"], "--fault-ppm", "0"),
    (["bench", "io", "--miniport", "nvme", "--fault", "nonsense"], "--fault", "nonsense"),
    (["bench", "io", "--runtime", "0"], "--runtime", "0"),
    (["bench", "io", "--runtime", "0s"], "--runtime", "0s"),
    (["bench", "io", "--runtime", "10x"], "--runtime", "10x"),
    (["bench", "io", "--rw", "randomread"], "--rw", "randomread"),
    (["bench", "io", "--miniport", "scsi"], "--miniport", "scsi"),
    (["bench", "io", "--verify", "md5"], "--verify", "md5"),
    (["bench", "io", "--direct", "2"], "--direct", "2"),
    (["bench", "io", "--logical-block-size", "1024"], "--logical-block-size", "1024"),
    (["bench", "io", "--output-format", "xml"], "--output-format", "xml"),
    (["bench", "io", "--seed", "abc"], "--seed", "abc"),
    (["bench", "runtime", "--filter", "bogus"], "--filter", "bogus"),
    (["bench", "runtime", "--samples", "49"], "--samples", "49"),
    (["run", "--trace", "t.json", "--trace-format", "xml"], "--trace-format", "xml"),
    (["run", "--trace", "t.json", "--trace-limit=-1"], "--trace-limit", "-1"),
  ])
  func silentlyRewrittenInputsAreRefused(args: [String], option: String, value: String) {
    Self.expectRefused(args, option: option, value: value)
  }

  /// Options that do not apply to the chosen miniport, platform or mode are errors.
  @Test(arguments: [
    (["bench", "io", "--fault", "stuck-command"], "--fault"),
    (["bench", "io", "--latency", "5"], "--latency"),
    (["bench", "io", "--stuck-ms", "5"], "--stuck-ms"),
    (["bench", "io", "--miniport", "nvme", "--completion", "dpc"], "--completion"),
    (["bench", "io", "--miniport", "nvme", "--fault-ppm", "100"], "--fault-ppm"),
    (["bench", "io", "--miniport", "nvme", "--slow-start-ms", "5"], "--slow-start-ms"),
    (["bench", "io", "--simulated", "--poll"], "--poll"),
    (["run", "--simulated", "--poll"], "--poll"),
    (["bench", "io", "--direct", "1"], "--direct"),
    (["bench", "io", "--rw", "randread", "--rwmixread", "30"], "--rwmixread"),
    (["bench", "io", "--readonly", "--rw", "randwrite"], "--readonly"),
    (["bench", "io", "--readonly"], "--readonly"),  // the default randrw writes
    (["bench", "io", "--verify", "crc32c", "--backing", "null"], "--verify"),
    (["bench", "io", "--verify", "crc32c", "--rw", "randread"], "--verify"),  // fresh RAM: nothing to verify
    (["bench", "io", "--verify_only"], "--verify_only"),  // needs --filename
    (["bench", "io", "--verify_only", "--filename", "/tmp/x", "--rw", "write"], "--rw"),
    (["bench", "io", "--verify_only", "--filename", "/tmp/x", "--bs", "8k"], "--bs"),
    (["bench", "io", "--verify_only", "--filename", "/tmp/x", "--runtime", "5"], "--runtime"),
    (["bench", "io", "--verify_state", "/tmp/s"], "--verify_state"),
    (["bench", "io", "--backing", "ram", "--filename", "/tmp/x"], "--backing"),
    (["bench", "io", "--backing", "file:/tmp/a", "--filename", "/tmp/x"], "--backing"),
    (["bench", "io", "--trace-format", "jsonl"], "--trace-format"),
    (["bench", "io", "--trace-limit", "10"], "--trace-limit"),
    (["bench", "io", "--json", "--output-format", "normal"], "--json"),
  ])
  func optionsThatDoNotApplyAreRefused(args: [String], option: String) {
    Self.expectRefused(args, option: option)
  }

  @Test func anUnknownSubcommandSaysSo() {
    let r = Self.rejection(["bogus"])
    #expect(r?.status == 2)
    #expect(r?.message.contains("unknown subcommand 'bogus'") == true, "\(r?.message ?? "accepted")")
    let b = Self.rejection(["bench", "nonsense"])
    #expect(
      b?.message.contains("storport bench: unknown subcommand 'nonsense'") == true,
      "\(b?.message ?? "accepted")")
  }

  @Test func versionAndHelpAreAnswered() throws {
    let (command, output) = try StorportCommand.parse(arguments: ["--version"])
    #expect(command == nil)
    #expect(output == StorportVersion.string)
    let help = try StorportCommand.parse(arguments: ["bench", "io", "--help"]).output ?? ""
    for option in [
      "--filename", "--size", "--direct", "--readonly", "--verify", "--verify_only", "--output-format",
    ] {
      #expect(help.contains(option), "bench io --help lacks \(option)")
    }
  }

  @Test func fioSizeSuffixesAreAccepted() throws {
    for (text, bytes) in [
      ("4096", 4096), ("4k", 4096), ("4K", 4096), ("4KiB", 4096), ("4kb", 4096), ("8KB", 8192),
      ("1m", 1 << 20), ("1MiB", 1 << 20), ("2g", 2 << 30), ("1t", 1 << 40),
    ] as [(String, UInt64)] {
      #expect(try OptionValue.size(text, option: "--bs") == bytes, "\(text)")
    }
    for text in ["4.5k", "k", "", "4 k", "4kk", "0x10", "+4k", "4e3"] {
      #expect(throws: OptionError.self, "\(text)") { try OptionValue.size(text, option: "--bs") }
    }
    #expect(throws: OptionError.self) { try OptionValue.size("16384p", option: "--size") }  // 2^64
  }

  @Test func fioTimeSuffixesAreAccepted() throws {
    let cases: [(String, UInt64)] = [
      ("3", 3_000_000_000), ("2.5", 2_500_000_000), ("500ms", 500_000_000), ("1m", 60_000_000_000),
      ("250us", 250_000), ("1h", 3_600_000_000_000),
    ]
    for (text, ns) in cases {
      #expect(try OptionValue.duration(text, option: "--runtime", in: 1...UInt64.max) == ns, "\(text)")
    }
    for text in ["", "-1", "nan", "inf", "1e3", "1.", ".5", "1..2", "5 s", "3x"] {
      #expect(throws: OptionError.self, "\(text)") {
        try OptionValue.duration(text, option: "--runtime", in: 1...UInt64.max)
      }
    }
  }

  @Test func goodCommandLinesAreAccepted() {
    let good: [[String]] = [
      ["run"], ["run", "--simulated", "--seed", "7", "--trace", "/tmp/a.json"],
      ["run", "--trace", "/tmp/a.jsonl", "--trace-format", "jsonl", "--trace-limit", "0"],
      ["demo", "--simulated"], ["bench", "runtime", "--filter", "lock", "--json"],
      ["bench", "memory", "--size", "64m"],
      [
        "bench", "io", "--miniport", "nvme", "--backing", "null", "--rw", "randread", "--iodepth", "128",
        "--unchecked",
      ],
      [
        "bench", "io", "--miniport", "ramdisk", "--completion", "dpc", "--verify", "crc32c", "--filename",
        "/tmp/x.img",
      ],
      ["bench", "io", "--backing", "file:/tmp/x.img", "--rw", "write"],
      ["bench", "io", "--backing", "direct:/tmp/x.img"],
      [
        "bench", "io", "--simulated", "--seed", "3", "--miniport", "nvme", "--verify", "crc32c", "--fault",
        "stuck-command", "--fault-ppm", "30000",
      ],
      [
        "bench", "io", "--miniport", "nvme", "--fault", "slow-start", "--slow-start-ms", "5", "--latency",
        "10-50",
      ],
      ["bench", "io", "--rw", "rw", "--rwmixread", "70", "--logical-block-size", "512", "--bs", "512"],
      ["bench", "io", "--filename", "/tmp/x.img", "--verify_only"],
      ["bench", "io", "--output-format", "json"],
    ]
    for args in good {
      let r = Self.rejection(args)
      #expect(r == nil, "refused: \(args.joined(separator: " ")): \(r?.message ?? "")")
    }
  }

  // MARK: the generated sweep

  /// Every value-taking option of every subcommand, read from its own help text.
  static func options(of command: [String]) throws -> [String] {
    let help = try StorportCommand.parse(arguments: command + ["--help"]).output ?? ""
    var names: [String] = []
    for line in help.split(separator: "\n") where line.contains("--") && line.contains("<") {
      for word in line.split(separator: " ") where word.hasPrefix("--") {
        let name = String(word.split(separator: ",")[0].split(separator: "=")[0])
        if !names.contains(name) { names.append(name) }
      }
    }
    return names
  }

  /// How messages name an option given by its other spelling.
  static let aliases = ["--jobs": "--numjobs", "--disk": "--size", "--randseed": "--seed"]

  /// Values that are legal for some options (paths, a fractional runtime) and which ones.
  static let acceptedAsPaths: Set<String> = ["--trace", "--filename", "--verify_state", "--out", "--merge"]

  /// Options whose value is free text for some garbage values (a name, an address that may
  /// resolve): those values may be accepted, the rest must be refused.
  static let acceptedAsText: [String: Set<String>] = [
    "--target-name": [],
    "--export": ["abc", "-1", "nan", "1e999", "4.5x", "0x10", "٣", "99999999999999999999999999t"],
    "--allow-initiator": ["abc", "-1", "nan", "1e999", "4.5x", "0x10", "٣", "99999999999999999999999999t"],
    "--listen": ["abc", "nan", "1e999", "4.5x", "0x10", "٣", "-1", "99999999999999999999999999t"],
  ]

  /// For each value-taking option of each subcommand, garbage values must be refused with
  /// status 2 naming an option and quoting the value — or, for the few options where such a
  /// value is legal (paths, names), accepted. Each is given as `--name=value`, and as two
  /// arguments where that parses differently: a value with a leading dash ("-1") is the
  /// option's value, as getopt takes it, never "Missing value". No value may trap (this runs in
  /// the test process).
  @Test(arguments: [
    ["run"], ["demo"], ["bench", "io"], ["bench", "runtime"], ["bench", "memory"],
    ["explore", "timer-startio-race"], ["serve"],
  ])
  func sweepEveryOptionWithBadValues(command: [String]) throws {
    let names = try Self.options(of: command)
    #expect(names.count >= (command == ["bench", "io"] ? 20 : 1), "options found: \(names)")
    let bad = ["", "abc", "-1", "nan", "1e999", "99999999999999999999999999t", "4.5x", "0x10", "٣"]
    var tried = 0
    for name in names {
      for value in bad {
        // As two arguments only where that parses differently: a leading dash, or nothing.
        let separate = value.isEmpty || value.hasPrefix("-") ? [command + [name, value]] : []
        for args in [command + ["\(name)=\(value)"]] + separate {
          tried += 1
          if let r = Self.rejection(args) {
            #expect(r.status == 2, "\(args): status \(r.status)")
            #expect(!r.message.contains("\n"), "\(args): \(r.message)")
            let named = [name] + (Self.aliases[name].map { [$0] } ?? [])
            #expect(
              named.contains { r.message.contains($0) },
              "\(args): the message does not name \(name): \(r.message)")
            // `--name=` with nothing after is missing, fairly; so is a list (--merge DIR...)
            // that ends at the next dash.
            if args.count == command.count + 2 && name != "--merge" {
              #expect(
                !r.message.contains("Missing value"),
                "\(args): the value was not taken as the option's: \(r.message)")
            }
          } else {
            #expect(
              (Self.acceptedAsPaths.contains(name) && !value.isEmpty)
                || Self.acceptedAsText[name]?.contains(value) == true,
              "storport \(args.joined(separator: " ")) was accepted")
          }
        }
      }
    }
    #expect(tried >= bad.count + 2)
  }
}
