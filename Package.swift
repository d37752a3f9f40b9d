// swift-tools-version: 6.1
import PackageDescription

let package = Package(
  name: "swift-storport",
  products: [
    .library(name: "Storport", targets: ["Storport"]),
    .executable(name: "storport", targets: ["storport"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2")
  ],
  targets: [
    // Variadic C (futex, prctl), thread-local storage and raw aligned atomics.
    .target(name: "CStorportShim"),
    // The Storport execution model: platform seam, runtime, verifier, trace.
    .target(name: "Storport", dependencies: ["CStorportShim"]),
    // Sample miniports (the demonstration adapter of `storport run`).
    .target(name: "StorportSamples", dependencies: ["Storport"]),
    // Benchmarks: figures beside same-run baselines; never run by the test suite.
    .target(name: "StorportBenchmarks", dependencies: ["Storport", "StorportSamples", "CStorportShim"]),
    .executableTarget(
      name: "storport",
      dependencies: [
        "Storport", "StorportSamples", "StorportBenchmarks",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ]),
    .testTarget(name: "ConformanceTests", dependencies: ["Storport", "StorportSamples"]),
    .testTarget(name: "LiveTests", dependencies: ["Storport", "StorportSamples"]),
  ],
  swiftLanguageModes: [.v6]
)
