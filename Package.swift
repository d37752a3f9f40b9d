// swift-tools-version: 6.1
import PackageDescription

let exportDynamic: [LinkerSetting] = [.unsafeFlags(["-Xlinker", "--export-dynamic"])]

let package = Package(
  name: "swift-storport",
  products: [
    .library(name: "Storport", targets: ["Storport"]),
    .library(name: "StorportTesting", targets: ["StorportTesting"]),
    .library(name: "StorportExplorer", targets: ["StorportExplorer"]),
    .executable(name: "storport", targets: ["storport"]),
    // For scripts/fuzz.sh only: NIOCore and its dependencies in one shared library.
    .library(name: "WireFuzzSupport", type: .dynamic, targets: ["WireFuzzSupport"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
    .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
    .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
  ],
  targets: [
    // Variadic C (futex, prctl), thread-local storage and raw aligned atomics.
    .target(name: "CStorportShim"),
    // The Storport execution model: platform seam, runtime, verifier, trace.
    .target(name: "Storport", dependencies: ["CStorportShim"]),
    // Device models: block stores (RAM, file, null), the NVMe-style controller.
    .target(name: "StorportDevices", dependencies: ["Storport", "CStorportShim"]),
    // SCSI: CDBs, sense data, the SPC/SBC logical-unit emulation.
    .target(name: "StorportSCSI", dependencies: ["StorportDevices"]),
    // For tests of miniports, ours and users': the scriptable miniport and observation logs.
    .target(
      name: "StorportTesting",
      dependencies: ["Storport", "StorportExplorer", "StorportSamples", "StorportDevices", "StorportSCSI"]),
    .target(name: "StorportExplorer", dependencies: ["Storport"]),
    // NIOCore for the wire fuzzer (scripts/fuzz.sh), as one shared library.
    .target(name: "WireFuzzSupport", dependencies: [.product(name: "NIOCore", package: "swift-nio")]),
    // The C interface: storport.h and friends (the headers C miniports compile against, in
    // include/), the variadic dispatchers and exported routines, compiler-instrumentation hooks.
    .target(name: "CStorportMiniport"),
    // The binding: C miniports loaded from shared objects, run by the Swift runtime.
    .target(
      name: "StorportC",
      dependencies: [
        "Storport", "CStorportMiniport", "StorportExplorer", "StorportDevices", "StorportSCSI", "StorportTesting",
      ]),
    // Sample miniports (the demonstration adapter of `storport run`).
    .target(name: "StorportSamples", dependencies: ["Storport", "StorportDevices", "StorportSCSI"]),
    // Front end: the fio-like workload generator (`storport bench io`, `storport run`).
    .target(
      name: "StorportWorkload",
      dependencies: [
        "Storport", "StorportDevices", "StorportSCSI", "StorportSamples", "CStorportShim", "StorportC",
        .product(name: "Histogram", package: "hdrhistogram-swift"),
      ]),
    // Benchmarks: figures beside same-run baselines; never run by the test suite.
    .target(
      name: "StorportBenchmarks",
      dependencies: [
        "Storport", "StorportSamples", "StorportTesting", "StorportDevices", "StorportSCSI", "CStorportShim",
        .product(name: "Histogram", package: "hdrhistogram-swift"),
      ]),
    // The command line: every subcommand, its options and their validation (a library, so
    // tests parse and validate in-process).
    .target(
      name: "StorportCLI",
      dependencies: [
        "Storport", "StorportSamples", "StorportBenchmarks", "StorportWorkload", "StorportDevices",
        "StorportExplorer", "StorportTesting", "CStorportShim", "StorportC", "StorportServe",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Prometheus", package: "swift-prometheus"),
      ]),
    // C miniports loaded with dlopen resolve StorPort* (and the instrumentation hooks) against
    // the executable: its symbols are exported.
    // Real clients: the NBD server (and the iSCSI target) in front of an adapter, on swift-nio.
    // The system's OpenSSL libcrypto, for iSCSI CHAP's MD5 (a kept library, not our own digest).
    .systemLibrary(name: "COpenSSLCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
    .target(
      name: "StorportServe",
      dependencies: [
        "Storport", "StorportWorkload", "StorportDevices", "CStorportShim", "COpenSSLCrypto",
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "Metrics", package: "swift-metrics"),
        .product(name: "Prometheus", package: "swift-prometheus"),
      ]),
    .executableTarget(name: "storport", dependencies: ["StorportCLI"], linkerSettings: exportDynamic),
    .testTarget(
      name: "ConformanceTests",
      dependencies: ["Storport", "StorportSamples", "StorportTesting", "StorportExplorer", "StorportC"]),
    .testTarget(
      name: "ExplorerTests", dependencies: ["Storport", "StorportExplorer", "StorportTesting", "CStorportShim"]),
    .testTarget(name: "LiveTests", dependencies: ["Storport", "StorportSamples", "StorportTesting"]),
    .testTarget(
      name: "FrontEndTests",
      dependencies: [
        "Storport", "StorportCLI", "StorportWorkload", "StorportDevices", "StorportSamples", "StorportTesting",
        "StorportBenchmarks", "StorportExplorer", "CStorportShim", "StorportC",
      ]),
    .testTarget(
      name: "CMiniportTests",
      dependencies: [
        "Storport", "StorportC", "CStorportMiniport", "StorportExplorer", "StorportTesting", "StorportCLI",
        "StorportWorkload", "StorportDevices",
      ],
      linkerSettings: exportDynamic),
    .testTarget(
      name: "ServeTests",
      dependencies: [
        "Storport", "StorportServe", "StorportWorkload",
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "Metrics", package: "swift-metrics"),
        .product(name: "Prometheus", package: "swift-prometheus"),
      ]),
    .testTarget(
      name: "DeviceTests",
      dependencies: ["Storport", "StorportSamples", "StorportDevices", "StorportSCSI", "StorportWorkload"]),
  ],
  swiftLanguageModes: [.v6]
)
