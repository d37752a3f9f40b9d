import Foundation
import StorportDevices
import StorportWorkload
import Testing

/// Verification that survives runs (issue 6 §3): written units carry a header (magic, LBA,
/// length, generation, seed, CRC-32C); `--verify_only` checks every unit an earlier run
/// wrote, and a unit changed behind its back fails the run naming the LBA, what was expected
/// and what was found.
@Suite struct VerifyTests {
  @Test func crc32cMatchesTheCastagnoliCheckValue() {
    #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
    #expect(CRC32C.softwareChecksum(Array("123456789".utf8)) == 0xE306_9283)
    // RFC 3720 B.4: 32 bytes of zeros, of 0xFF.
    #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
    #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
    var g = SystemRandomNumberGenerator()
    for n in [0, 1, 7, 8, 9, 63, 64, 4095, 4096, 65_537] {
      let bytes = (0..<n).map { _ in UInt8.random(in: 0...255, using: &g) }
      #expect(CRC32C.checksum(bytes) == CRC32C.softwareChecksum(bytes), "length \(n)")
    }
  }

  static func unit(lba: UInt64 = 40, generation: UInt32 = 3, bytes: Int = 4096) -> UnsafeMutableRawPointer {
    let p = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 8)
    VerifyHeader.write(into: p, bytes: bytes, lba: lba, generation: generation, seed: 9)
    return p
  }

  @Test func anIntactUnitPassesAndEveryKindOfDamageIsNamed() {
    let p = Self.unit()
    defer { p.deallocate() }
    #expect(VerifyHeader.check(p, bytes: 4096, lba: 40, generation: 3) == nil)
    // Wrong place, older and newer versions.
    #expect(VerifyHeader.check(p, bytes: 4096, lba: 41, generation: 3)?.kind == .wrongLBA)
    #expect(VerifyHeader.check(p, bytes: 4096, lba: 40, generation: 4)?.kind == .staleGeneration)
    #expect(VerifyHeader.check(p, bytes: 4096, lba: 40, generation: 2)?.kind == .newerGeneration)
    // One flipped payload bit: a checksum failure that names the byte.
    let byte = p.load(fromByteOffset: 1000, as: UInt8.self)
    p.storeBytes(of: byte ^ 0x10, toByteOffset: 1000, as: UInt8.self)
    let f = VerifyHeader.check(p, bytes: 4096, lba: 40, generation: 3)
    #expect(f?.kind == .badChecksum)
    #expect(f?.description.contains("offset 1000") == true, "\(f?.description ?? "")")
    #expect(f?.description.contains("LBA 40") == true)
    // A flipped header bit is caught too.
    p.storeBytes(of: byte, toByteOffset: 1000, as: UInt8.self)
    p.storeBytes(of: UInt8(7), toByteOffset: 24, as: UInt8.self)
    #expect(VerifyHeader.check(p, bytes: 4096, lba: 40, generation: 3)?.kind == .badChecksum)
    // Zeros and foreign data.
    p.initializeMemory(as: UInt8.self, repeating: 0, count: 4096)
    #expect(VerifyHeader.check(p, bytes: 4096, lba: 40, generation: 3)?.found.contains("all zeros") == true)
    for i in 0..<4096 {
      p.storeBytes(of: UInt8(truncatingIfNeeded: i &* 131), toByteOffset: i, as: UInt8.self)
    }
    #expect(VerifyHeader.check(p, bytes: 4096, lba: 40, generation: 3)?.kind == .notAHeader)
  }

  static func writeRun(_ path: String, seed: UInt64 = 1, size: UInt64? = 4 << 20) throws -> WorkloadResult {
    var o = FileSafetyTests.options(path, .randrw)
    o.verify = .crc32c
    o.seed = seed
    o.sizeBytes = size
    o.runtimeNanoseconds = 4_000_000
    return try FileSafetyTests.run(o)
  }

  static func verifyOnly(_ path: String) throws -> WorkloadResult {
    var o = FileSafetyTests.options(path, .randread)
    o.verify = .crc32c
    o.verifyOnly = true
    return try FileSafetyTests.run(o)
  }

  static func overwrite(_ path: String, at offset: Int, with bytes: [UInt8]) throws {
    let h = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
    try h.seek(toOffset: UInt64(offset))
    try h.write(contentsOf: bytes)
    try h.close()
  }

  @Test func verifyOnlyChecksEveryUnitAnEarlierRunWroteAndCatchesDamage() throws {
    let path = "/tmp/storport-verify-\(getpid()).img"
    let state = VerifyState.defaultPath(for: path)
    unlink(path)
    unlink(state)
    defer {
      unlink(path)
      unlink(state)
    }
    let w = try Self.writeRun(path)
    #expect(w.passed, "\(w.failures)")
    #expect(w.verifyStateSavedTo == state)
    let saved = try VerifyState.load(from: state)
    let written = saved.writtenUnits
    #expect(written > 50, "the write run wrote units")
    // A clean read-back checks exactly the written units.
    let clean = try Self.verifyOnly(path)
    #expect(clean.passed, "\(clean.failures)")
    #expect(clean.verifiedReads == written)
    #expect(clean.write.ios == 0)
    // Damage one written unit behind the tool's back.
    let victim = (0..<saved.unitCount).first { VerifyState.isKnown(saved[$0]) }!
    try Self.overwrite(path, at: Int(victim) * 4096 + 100, with: [0xDE, 0xAD])
    let damaged = try Self.verifyOnly(path)
    #expect(!damaged.passed)
    #expect(damaged.verifyFailures == 1)
    let line = damaged.failures.first ?? ""
    #expect(line.contains("LBA \(victim)") && line.contains("expected") && line.contains("found"), "\(line)")
    #expect(line.contains(path), "\(line)")
  }

  @Test func aFileOverwrittenWithRandomDataFailsVerification() throws {
    let path = "/tmp/storport-verify-random-\(getpid()).img"
    let state = VerifyState.defaultPath(for: path)
    unlink(path)
    unlink(state)
    defer {
      unlink(path)
      unlink(state)
    }
    _ = try Self.writeRun(path)
    var g = SystemRandomNumberGenerator()
    try Self.overwrite(path, at: 0, with: (0..<(4 << 20)).map { _ in UInt8.random(in: 0...255, using: &g) })
    let r = try Self.verifyOnly(path)
    #expect(!r.passed)
    #expect(r.verifyFailures == r.verifiedReads && r.verifyFailures > 50, "every written unit fails")
    // And a read-only randread with --verify (not verify_only) fails too.
    var o = FileSafetyTests.options(path, .randread)
    o.verify = .crc32c
    let rr = try FileSafetyTests.run(o)
    #expect(!rr.passed && rr.verifyFailures > 0 && rr.verifiedReads > 0)
  }

  @Test func aLostWriteIsReportedAsAnOlderVersion() throws {
    let path = "/tmp/storport-verify-lost-\(getpid()).img"
    let state = VerifyState.defaultPath(for: path)
    unlink(path)
    unlink(state)
    defer {
      unlink(path)
      unlink(state)
    }
    _ = try Self.writeRun(path, seed: 1)
    let old = try Data(contentsOf: URL(fileURLWithPath: path))
    _ = try Self.writeRun(path, seed: 2)  // continues from the saved state: newer generations
    try old.write(to: URL(fileURLWithPath: path))  // the device "forgot" the second run
    let r = try Self.verifyOnly(path)
    #expect(!r.passed)
    #expect(r.failures.contains { $0.contains("older version") }, "\(r.failures.prefix(2))")
  }

  @Test func verificationWithoutAnEarlierRunIsRefused() throws {
    let path = try FileSafetyTests.temporaryFile(bytes: 1 << 20)
    defer { unlink(path) }
    for verifyOnly in [true, false] {
      var o = FileSafetyTests.options(path, .randread)
      o.verify = .crc32c
      o.verifyOnly = verifyOnly
      do throws(WorkloadError) {
        _ = try Workload(o)
        Issue.record("verification with no state was accepted")
      } catch {
        #expect(error.exitStatus == 2)
        #expect(error.description.contains("no verify state"), "\(error)")
      }
    }
  }

  @Test func aDamagedStateFileIsRefusedClearly() throws {
    let path = "/tmp/storport-verify-state-\(getpid()).img"
    let state = VerifyState.defaultPath(for: path)
    unlink(path)
    unlink(state)
    defer {
      unlink(path)
      unlink(state)
    }
    _ = try Self.writeRun(path)
    var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: state)))
    bytes[60] ^= 1
    try Data(bytes).write(to: URL(fileURLWithPath: state))
    do {
      _ = try Self.verifyOnly(path)
      Issue.record("a damaged state was accepted")
    } catch let error as WorkloadError {
      #expect(error.description.contains("checksum mismatch"), "\(error)")
    }
    try Data(bytes.prefix(30)).write(to: URL(fileURLWithPath: state))
    do {
      _ = try Self.verifyOnly(path)
      Issue.record("a truncated state was accepted")
    } catch let error as WorkloadError { #expect(error.description.contains("too short"), "\(error)") }
  }

  @Test func aShrunkTargetFailsVerification() throws {
    let path = "/tmp/storport-verify-shrunk-\(getpid()).img"
    let state = VerifyState.defaultPath(for: path)
    unlink(path)
    unlink(state)
    defer {
      unlink(path)
      unlink(state)
    }
    _ = try Self.writeRun(path)
    truncate(path, 1 << 20)
    do {
      _ = try Self.verifyOnly(path)
      Issue.record("a shrunk target passed")
    } catch let error as WorkloadError {
      #expect(error.exitStatus == 1)
      #expect(error.description.contains("shrank"), "\(error)")
    }
  }

  /// A writing run that is killed leaves its state marked "in progress" (saved when it
  /// started): a later read-back accepts units newer than recorded and counts them; the same
  /// units in a cleanly saved state are failures.
  @Test func aKilledWritingRunLeavesAStateThatAcceptsNewerUnits() throws {
    let path = "/tmp/storport-verify-killed-\(getpid()).img"
    let statePath = VerifyState.defaultPath(for: path)
    unlink(path)
    unlink(statePath)
    defer {
      unlink(path)
      unlink(statePath)
    }
    _ = try Self.writeRun(path, seed: 1)
    let before = try Data(contentsOf: URL(fileURLWithPath: statePath))
    _ = try Self.writeRun(path, seed: 2)
    // As if the second run had been killed: its start-of-run save, with the first run's
    // generations, marked in progress.
    try Data(before).write(to: URL(fileURLWithPath: statePath))
    let restored = try VerifyState.load(from: statePath)
    restored.inProgress = true
    try restored.save(to: statePath)
    let r = try Self.verifyOnly(path)
    #expect(r.passed, "\(r.failures.prefix(2))")
    #expect(r.newerThanRecorded > 0, "units the killed run rewrote were seen")
    #expect(r.text.contains("killed before it ended"))
    // Positive control: the same state saved clean reports them as failures.
    restored.inProgress = false
    try restored.save(to: statePath)
    let strict = try Self.verifyOnly(path)
    #expect(!strict.passed && strict.failures.contains { $0.contains("newer version") })
  }

  @Test func aWritingRunMarksItsStateInProgressUntilItEnds() throws {
    let path = "/tmp/storport-verify-progress-\(getpid()).img"
    let statePath = VerifyState.defaultPath(for: path)
    unlink(path)
    unlink(statePath)
    defer {
      unlink(path)
      unlink(statePath)
    }
    var o = FileSafetyTests.options(path, .randwrite)
    o.verify = .crc32c
    o.sizeBytes = 1 << 20
    let w = try Workload(o)
    // Nothing has run yet: no state. The run saves one marked in progress first.
    #expect(!VerifyState.exists(at: statePath))
    var sawInProgress = false
    let r = w.run(
      progressEvery: 0,
      progress: { _ in
        sawInProgress = sawInProgress || ((try? VerifyState.load(from: statePath))?.inProgress ?? false)
      })
    w.shutdown()
    #expect(r.passed)
    #expect(sawInProgress, "the state was marked in progress while the run wrote")
    #expect(try VerifyState.load(from: statePath).inProgress == false, "and clean at its end")
  }

  @Test func aStatePathThatCannotWorkIsRefusedBeforeTheRun() throws {
    let path = try FileSafetyTests.temporaryFile(bytes: 1 << 20)
    defer { unlink(path) }
    let before = try FileSafetyTests.digest(path)
    let cases: [(String, String)] = [
      (path, "the target itself"), ("/nonexistent-dir/s.state", "does not exist"),
      ("/dev/full", "not a regular file"),
      ("", "a file path"),
    ]
    for (state, why) in cases {
      var o = FileSafetyTests.options(path, .randwrite)
      o.verify = .crc32c
      o.verifyStatePath = state
      do throws(WorkloadError) {
        _ = try Workload(o)
        Issue.record("--verify_state '\(state)' was accepted")
      } catch {
        #expect(error.exitStatus == 2, "\(error)")
        #expect(error.description.contains(why), "\(error)")
      }
    }
    #expect(try FileSafetyTests.digest(path) == before, "nothing ran")
  }

  @Test func verifyOnlyTakesTheLogicalBlockSizeFromTheState() throws {
    let path = "/tmp/storport-verify-512-\(getpid()).img"
    let state = VerifyState.defaultPath(for: path)
    unlink(path)
    unlink(state)
    defer {
      unlink(path)
      unlink(state)
    }
    var o = FileSafetyTests.options(path, .randwrite)
    o.verify = .crc32c
    o.logicalBlockSize = 512
    o.blockSize = 1024
    o.sizeBytes = 1 << 20
    _ = try FileSafetyTests.run(o)
    let r = try Self.verifyOnly(path)
    #expect(r.passed && r.target.logicalBlockSize == 512 && r.target.unitBytes == 1024, "\(r.failures)")
  }

  @Test func aUnitThatFailsAgainAndAgainIsOneLineWithACount() throws {
    let path = "/tmp/storport-verify-repeat-\(getpid()).img"
    let state = VerifyState.defaultPath(for: path)
    unlink(path)
    unlink(state)
    defer {
      unlink(path)
      unlink(state)
    }
    var w = FileSafetyTests.options(path, .write)
    w.verify = .crc32c
    w.sizeBytes = 64 << 10  // 16 units
    w.iodepth = 1
    _ = try FileSafetyTests.run(w)
    try Self.overwrite(path, at: 3 * 4096 + 64, with: [1, 2, 3])
    var r = FileSafetyTests.options(path, .randread)
    r.verify = .crc32c
    r.iodepth = 1
    let result = try FileSafetyTests.run(r)
    #expect(result.verifyFailures > 1, "the damaged unit was read more than once")
    #expect(result.failures.count == 1, "\(result.failures)")
    #expect(
      result.failures.first?.contains("seen \(result.verifyFailures) times") == true, "\(result.failures)")
  }
}
