import Glibc
import StorportDevices
import StorportSCSI
import Testing

/// File backing durability: data written with FUA, or written and then flushed with
/// SYNCHRONIZE CACHE, is on disk when the command completes. The test binary re-runs itself
/// as a child (this suite's `crashChild`, selected by an environment variable) that writes
/// through the logical unit and kills itself with SIGKILL right after the completions; the
/// parent then reads the file back.
@Suite struct FileStoreCrashTests {
  static let envPath = "STORPORT_CRASH_CHILD_FILE"

  static func pattern(_ lba: Int, _ i: Int) -> UInt8 { UInt8(truncatingIfNeeded: lba &* 31 &+ i &* 7 &+ 1) }

  /// In the child: FUA-write blocks 0..<8 with WRITE(10) FUA, write 8..<16 plainly then
  /// SYNCHRONIZE CACHE(10), then SIGKILL. In a normal run: nothing.
  @Test func crashChild() throws {
    guard let path = getenv(Self.envPath).map({ String(cString: $0) }) else { return }
    let store = try FileStore(path: path, bytes: 64 * 4096)
    let lu = LogicalUnit(store: store)
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 4096)
    for lba in 0..<16 {
      for i in 0..<4096 { buffer[i] = Self.pattern(lba, i) }
      let fua: UInt8 = lba < 8 ? 0x08 : 0
      let r = lu.execute(Cdb([0x2A, fua, 0, 0, 0, UInt8(lba), 0, 0, 1, 0]), buffer: buffer)
      guard r.status == .good else { exit(3) }
    }
    let sync = lu.execute(
      Cdb([0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0]), buffer: UnsafeMutableRawBufferPointer(start: nil, count: 0))
    guard sync.status == .good else { exit(4) }
    kill(getpid(), SIGKILL)
  }

  /// The flush itself, observed: a FUA write or SYNCHRONIZE CACHE leaves no acknowledged write
  /// that an fdatasync does not cover; a plain write does (the positive control — the ledger
  /// can see a missing flush). SIGKILL keeps the page cache, so only this test can fail when
  /// FUA or SYNCHRONIZE CACHE skip the flush.
  @Test func fuaAndSynchronizeCacheLeaveNothingUnsynced() throws {
    let path = "/tmp/storport-durable-\(getpid()).img"
    unlink(path)
    defer { unlink(path) }
    let store = try FileStore(path: path, bytes: 64 * 4096)
    let lu = LogicalUnit(store: store)
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 4096)
    defer { buffer.deallocate() }
    for i in 0..<4096 { buffer[i] = Self.pattern(1, i) }
    let none = UnsafeMutableRawBufferPointer(start: nil, count: 0)
    #expect(store.unsyncedWrites == 0)
    #expect(lu.execute(Cdb([0x2A, 0, 0, 0, 0, 1, 0, 0, 1, 0]), buffer: buffer).status == .good)
    #expect(store.unsyncedWrites == 1, "a plain write is not durable until flushed")
    #expect(lu.execute(Cdb([0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0]), buffer: none).status == .good)
    #expect(store.unsyncedWrites == 0, "SYNCHRONIZE CACHE(10) did not flush")
    #expect(lu.execute(Cdb([0x2A, 0x08, 0, 0, 0, 2, 0, 0, 1, 0]), buffer: buffer).status == .good)
    #expect(store.unsyncedWrites == 0, "WRITE(10) with FUA did not flush")
    #expect(
      lu.execute(Cdb([0x8A, 0x08, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 1, 0, 0]), buffer: buffer).status == .good)
    #expect(store.unsyncedWrites == 0, "WRITE(16) with FUA did not flush")
    #expect(lu.execute(Cdb([0x2A, 0, 0, 0, 0, 4, 0, 0, 1, 0]), buffer: buffer).status == .good)
    #expect(
      lu.execute(Cdb([0x91, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), buffer: none).status == .good)
    #expect(store.unsyncedWrites == 0, "SYNCHRONIZE CACHE(16) did not flush")
  }

  @Test func acknowledgedWritesSurviveSigkill() throws {
    let path = "/tmp/storport-crash-\(getpid()).img"
    unlink(path)
    defer { unlink(path) }
    var pid: pid_t = 0
    let exe = "/proc/self/exe"
    let args = [exe, "--testing-library", "swift-testing", "--filter", "crashChild"]
    var argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
    var envp: [UnsafeMutablePointer<CChar>?] = [strdup("\(Self.envPath)=\(path)"), nil]
    defer { for p in argv + envp { free(p) } }
    let rc = posix_spawn(&pid, exe, nil, nil, &argv, &envp)
    try #require(rc == 0)
    var status: Int32 = 0
    waitpid(pid, &status, 0)
    // Killed by SIGKILL (not a normal exit: the writes were acknowledged, then the crash).
    #expect(status & 0x7F == SIGKILL)
    let store = try FileStore(path: path, bytes: 64 * 4096)
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 4096)
    defer { buffer.deallocate() }
    for lba in 0..<16 {
      try store.read(lba: UInt64(lba), count: 1, into: buffer.baseAddress!)
      let intact = (0..<4096).allSatisfy { buffer[$0] == Self.pattern(lba, $0) }
      #expect(intact, "block \(lba) lost after SIGKILL")
    }
  }
}
