// What the wire fuzzer (scripts/fuzz.sh, Fuzz/WireFuzz.swift) links besides the wire files: a
// shared library holding swift-nio's NIOCore and everything it depends on, so the fuzz build
// never lists swift-nio's own targets.
@_exported import NIOCore
