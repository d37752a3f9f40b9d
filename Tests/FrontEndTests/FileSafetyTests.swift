import Foundation
import StorportDevices
import StorportWorkload
import Testing

/// The user's file is the user's data (issue 6 §2): a workload that only reads never changes
/// it (same hash, same size, same modification time); without --size the disk is the file's
/// own size; the file grows only when --size asks for more, and is never shrunk.
@Suite struct FileSafetyTests {
  static func temporaryFile(bytes: Int, random: Bool = true) throws -> String {
    let path = "/tmp/storport-safety-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).img"
    var data = [UInt8](repeating: 0, count: bytes)
    if random {
      var g = SystemRandomNumberGenerator()
      for i in stride(from: 0, to: bytes, by: 8) {
        withUnsafeBytes(of: g.next()) { w in for k in 0..<min(8, bytes - i) { data[i + k] = w[k] } }
      }
    }
    try Data(data).write(to: URL(fileURLWithPath: path))
    return path
  }

  static func digest(_ path: String) throws -> UInt32 {
    CRC32C.checksum([UInt8](try Data(contentsOf: URL(fileURLWithPath: path))))
  }

  static func size(_ path: String) throws -> UInt64 {
    (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.uint64Value ?? 0
  }

  static func modified(_ path: String) throws -> Date {
    try FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as! Date
  }

  static func options(
    _ path: String, _ pattern: WorkloadOptions.Pattern, miniport: WorkloadOptions.MiniportKind = .ramdisk
  )
    -> WorkloadOptions
  {
    var o = WorkloadOptions()
    o.simulated = true
    o.target = .file(path: path, direct: false)
    o.pattern = pattern
    o.miniport = miniport
    o.iodepth = 8
    o.runtimeNanoseconds = 2_000_000
    return o
  }

  static func run(_ o: WorkloadOptions) throws -> WorkloadResult {
    let w = try Workload(o)
    let r = w.run()
    w.shutdown()
    return r
  }

  @Test(arguments: [WorkloadOptions.MiniportKind.ramdisk, .nvme])
  func aReadWorkloadNeverModifiesTheFile(miniport: WorkloadOptions.MiniportKind) throws {
    let path = try Self.temporaryFile(bytes: 3 << 20)
    defer { unlink(path) }
    let before = try Self.digest(path)
    let mtime = try Self.modified(path)
    for pattern in [WorkloadOptions.Pattern.read, .randread] {
      let r = try Self.run(Self.options(path, pattern, miniport: miniport))
      #expect(r.passed, "\(r.failures)")
      #expect(r.read.ios > 100, "the read workload did run")
      #expect(r.write.ios == 0)
      #expect(r.target.readOnly)
      #expect(r.target.sizeBytes == 3 << 20, "without --size the disk is the file's own size")
    }
    #expect(try Self.digest(path) == before)
    #expect(try Self.size(path) == 3 << 20)
    #expect(try Self.modified(path) == mtime)
    // Positive control: a write workload on the same file does change it.
    let w = try Self.run(Self.options(path, .randwrite, miniport: miniport))
    #expect(w.write.ios > 0)
    #expect(try Self.digest(path) != before)
    #expect(try Self.size(path) == 3 << 20, "a write workload without --size keeps the file's size")
  }

  @Test func readOnlyTargetsRefuseWritesAtTheStore() throws {
    let path = try Self.temporaryFile(bytes: 1 << 20)
    defer { unlink(path) }
    let store = try FileStore(path: path, bytes: 1 << 20, access: .readOnly, create: false)
    let buffer = UnsafeMutableRawPointer.allocate(byteCount: 4096, alignment: 4096)
    defer { buffer.deallocate() }
    #expect(throws: BlockStoreError.readOnly) {
      try store.write(lba: 0, count: 1, from: buffer, forceUnitAccess: true)
    }
    #expect(throws: BlockStoreError.readOnly) { try store.deallocate(lba: 0, count: 1) }
    try store.read(lba: 0, count: 1, into: buffer)
  }

  @Test func theFileGrowsOnlyWhenSizeAsksAndIsNeverShrunk() throws {
    let path = try Self.temporaryFile(bytes: 2 << 20)
    defer { unlink(path) }
    // Smaller --size: only the first 1 MiB is used; the file keeps its 2 MiB.
    var o = Self.options(path, .randwrite)
    o.sizeBytes = 1 << 20
    var r = try Self.run(o)
    #expect(r.target.sizeBytes == 1 << 20)
    #expect(try Self.size(path) == 2 << 20)
    // Larger --size: grown, and the report says so.
    o.sizeBytes = 4 << 20
    r = try Self.run(o)
    #expect(r.target.grows && r.target.description.contains("grown from 2 MiB"))
    #expect(try Self.size(path) == 4 << 20)
    // A read-only workload never grows a file.
    var ro = Self.options(path, .randread)
    ro.sizeBytes = 8 << 20
    #expect(throws: WorkloadError.self) { try Workload(ro) }
    #expect(try Self.size(path) == 4 << 20)
  }

  @Test func aMissingFileIsCreatedOnlyWithSizeAndNeverForReads() throws {
    let path = "/tmp/storport-missing-\(getpid()).img"
    unlink(path)
    defer { unlink(path) }
    var o = Self.options(path, .randwrite)
    #expect(throws: WorkloadError.self) { try Workload(o) }
    #expect(access(path, F_OK) != 0, "nothing created without --size")
    o.pattern = .randread
    o.sizeBytes = 1 << 20
    #expect(throws: WorkloadError.self) { try Workload(o) }
    #expect(access(path, F_OK) != 0, "a read workload creates nothing")
    o.pattern = .randwrite
    let r = try Self.run(o)
    #expect(r.target.creates)
    #expect(try Self.size(path) == 1 << 20)
  }

  /// A file the store created and then could not grow to the size asked (ftruncate refuses 2^62
  /// bytes) is removed again: a failed start leaves no empty file that the next run would take
  /// for the user's. A file that existed before is left as it was (the control: the same
  /// failure, the file still there with its bytes).
  @Test func aFileCreatedAndNotSizedIsRemovedAndAnExistingOneKept() throws {
    let fresh = "/tmp/storport-safety-\(getpid())-\(UInt32.random(in: 0...UInt32.max))-new.img"
    #expect(throws: BlockStoreError.self) { _ = try FileStore(path: fresh, bytes: 1 << 62) }
    #expect(!FileManager.default.fileExists(atPath: fresh), "the created file was left behind")
    let existing = try Self.temporaryFile(bytes: 8192)
    defer { unlink(existing) }
    let before = try Self.digest(existing)
    #expect(throws: BlockStoreError.self) { _ = try FileStore(path: existing, bytes: 1 << 62) }
    #expect(FileManager.default.fileExists(atPath: existing))
    #expect(try Self.digest(existing) == before && Self.size(existing) == 8192)
    // Control: a size that fits creates the file.
    let store = try FileStore(path: fresh, bytes: 8192)
    defer { unlink(fresh) }
    #expect(store.blockCount == 2 && FileManager.default.fileExists(atPath: fresh))
  }

  @Test func ioErrorsNameThePathAndTheSystemMessage() throws {
    var o = Self.options("/nonexistent-dir/storport/x.img", .randwrite)
    o.sizeBytes = 1 << 20
    do throws(WorkloadError) {
      _ = try Workload(o)
      Issue.record("a file in a missing directory was accepted")
    } catch {
      #expect(error.description.contains("/nonexistent-dir/storport/x.img"), "\(error)")
      #expect(error.description.contains("does not exist"), "\(error)")
      #expect(error.exitStatus == 2)
    }
    // A directory is not a disk.
    o = Self.options("/tmp", .randread)
    do throws(WorkloadError) {
      _ = try Workload(o)
      Issue.record("a directory was accepted")
    } catch {
      #expect(error.description.contains("/tmp") && error.description.contains("directory"), "\(error)")
      #expect(error.exitStatus == 2)
    }
  }

  @Test func fiveHundredTwelveByteLogicalBlocksWork() throws {
    for miniport in [WorkloadOptions.MiniportKind.ramdisk, .nvme] {
      var o = WorkloadOptions()
      o.simulated = true
      o.miniport = miniport
      o.logicalBlockSize = 512
      o.blockSize = 1536
      o.sizeBytes = 1 << 20
      o.verify = .crc32c
      o.runtimeNanoseconds = 2_000_000
      o.iodepth = 4
      let r = try Self.run(o)
      #expect(r.passed, "\(miniport): \(r.failures)")
      #expect(r.verifiedReads > 0, "\(miniport): reads were verified")
      #expect(r.target.description.contains("2048 logical blocks of 512 bytes"), "\(r.target.description)")
    }
  }
}
