import Foundation
import Logging
import Prometheus
import Storport
import StorportServe
import StorportWorkload
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// A minimal NBD client over a loopback socket — enough to drive the server as a real client
/// does, and to send it what a real client never would.
final class NBDTestClient {
  let fd: Int32

  init(port: Int) throws {
    fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = UInt16(port).bigEndian
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    var tv = timeval(tv_sec: 10, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    let rc = withUnsafePointer(to: &addr) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
      }
    }
    guard rc == 0 else { throw POSIXError(.ECONNREFUSED) }
  }

  deinit { close(fd) }

  func send(_ bytes: [UInt8]) {
    var sent = 0
    while sent < bytes.count {
      let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, bytes.count - sent, 0) }
      if n <= 0 { return }
      sent += n
    }
  }

  /// Exactly `count` bytes, or fewer if the server closed (or the timeout passed).
  func receive(_ count: Int) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: count)
    var got = 0
    while got < count {
      let n = out.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + got, count - got, 0) }
      if n <= 0 { break }
      got += n
    }
    return Array(out[0..<got])
  }

  /// Whether the server closed the connection: the next read sees end of stream (recv 0).
  /// False when data arrives or the read times out (10 s) — so a server that keeps the
  /// connection open fails the check instead of passing it.
  func closedByPeer() -> Bool {
    var byte: UInt8 = 0
    return recv(fd, &byte, 1, 0) == 0
  }

  static func be<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.bigEndian) { Array($0) } }
  static func read64(_ b: [UInt8], _ i: Int) -> UInt64 { (0..<8).reduce(0) { $0 << 8 | UInt64(b[i + $1]) } }
  static func read32(_ b: [UInt8], _ i: Int) -> UInt32 { (0..<4).reduce(0) { $0 << 8 | UInt32(b[i + $1]) } }

  /// Greeting, client flags, NBD_OPT_STRUCTURED_REPLY when asked (nil if refused), NBD_OPT_GO:
  /// the export's size, or nil if the server refused.
  func handshake(export: String, structured: Bool = false) -> UInt64? {
    let greeting = receive(18)
    guard greeting.count == 18, Self.read64(greeting, 0) == NBD.initMagic else { return nil }
    send(Self.be(NBD.clientFlagFixedNewstyle | NBD.clientFlagNoZeroes))
    if structured {
      send(Self.be(NBD.optionMagic) + Self.be(NBD.optStructuredReply) + Self.be(UInt32(0)))
      let header = receive(20)
      guard header.count == 20, Self.read32(header, 12) == NBD.repAck, Self.read32(header, 16) == 0 else {
        return nil
      }
    }
    var data = Self.be(UInt32(export.utf8.count)) + Array(export.utf8) + Self.be(UInt16(0))
    send(Self.be(NBD.optionMagic) + Self.be(NBD.optGo) + Self.be(UInt32(data.count)) + data)
    data = []
    var size: UInt64? = nil
    while true {
      let header = receive(20)
      guard header.count == 20 else { return nil }
      let type = Self.read32(header, 12)
      let length = Int(Self.read32(header, 16))
      let payload = receive(length)
      if type == NBD.repAck { return size }
      if type & 0x8000_0000 != 0 { return nil }
      if type == NBD.repInfo, payload.count >= 10, payload[0] == 0, payload[1] == 0 {
        size = Self.read64(payload, 2)
      }
    }
  }

  static func request(_ type: UInt16, cookie: UInt64, offset: UInt64, length: UInt32, flags: UInt16 = 0)
    -> [UInt8]
  {
    be(NBD.requestMagic) + be(flags) + be(type) + be(cookie) + be(offset) + be(length)
  }

  /// One structured reply chunk: flags, type, cookie, payload.
  func chunk() -> (flags: UInt16, type: UInt16, cookie: UInt64, payload: [UInt8])? {
    let header = receive(20)
    guard header.count == 20, Self.read32(header, 0) == NBD.structuredReplyMagic else { return nil }
    let flags = UInt16(header[4]) << 8 | UInt16(header[5])
    let type = UInt16(header[6]) << 8 | UInt16(header[7])
    return (flags, type, Self.read64(header, 8), receive(Int(Self.read32(header, 16))))
  }

  /// A simple reply's error and cookie (and `dataLength` bytes of data after it).
  func reply(dataLength: Int = 0) -> (error: UInt32, cookie: UInt64, data: [UInt8])? {
    let header = receive(16)
    guard header.count == 16, Self.read32(header, 0) == NBD.simpleReplyMagic else { return nil }
    let error = Self.read32(header, 4)
    return (error, Self.read64(header, 8), error == 0 ? receive(dataLength) : [])
  }
}

/// The NBD server in front of a RAM-disk adapter, driven over loopback: negotiation, I/O
/// through the adapter, and the requests a hostile client sends.
@Suite(.serialized) struct NBDTests {
  final class Fixture {
    let rig: WorkloadRig
    let server: NBDServer
    let port: Int
    let registry = PrometheusCollectorRegistry()
    /// What the server logged at info level and above.
    let log = LogCapture()
    init(readOnly: Bool = false) throws {
      var o = WorkloadOptions()
      o.miniport = .ramdisk
      o.sizeBytes = 4 << 20
      o.processors = 2
      rig = try WorkloadRig(o)
      let disk = AdapterDisk(
        adapter: rig.adapter, blockSize: rig.store.blockSize, blockCount: rig.store.blockCount)
      server = NBDServer(
        exports: [NBDServer.Export(name: "disk", disk: disk, readOnly: readOnly)],
        metrics: ServeMetrics(factory: PrometheusMetricsFactory(registry: registry)),
        logger: Logger(label: "storport.nbd") { [log] _ in log })
      port = try server.start(host: "127.0.0.1", port: 0)
    }
    deinit {
      // The adapter first: its last completions still find the server's event loop.
      rig.runtime.shutdown()
      server.shutdown()
    }
  }

  @Test func negotiatesAndRoundTripsDataThroughTheAdapter() throws {
    let f = try Fixture()
    let c = try NBDTestClient(port: f.port)
    #expect(c.handshake(export: "disk") == 4 << 20)
    let data = (0..<8192).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
    c.send(
      NBDTestClient.request(NBD.cmdWrite, cookie: 1, offset: 4096, length: 8192, flags: NBD.cmdFlagFUA) + data
    )
    let w = try #require(c.reply())
    #expect(w.error == 0 && w.cookie == 1)
    c.send(NBDTestClient.request(NBD.cmdRead, cookie: 2, offset: 4096, length: 8192))
    let r = try #require(c.reply(dataLength: 8192))
    #expect(r.error == 0 && r.cookie == 2)
    #expect(r.data == data)
    c.send(NBDTestClient.request(NBD.cmdFlush, cookie: 3, offset: 0, length: 0))
    #expect(c.reply()?.cookie == 3)
    c.send(NBDTestClient.request(NBD.cmdWriteZeroes, cookie: 4, offset: 4096, length: 4096))
    #expect(c.reply()?.error == 0)
    c.send(NBDTestClient.request(NBD.cmdRead, cookie: 5, offset: 4096, length: 4096))
    #expect(c.reply(dataLength: 4096)?.data == [UInt8](repeating: 0, count: 4096))
    // Every request went through the adapter, and the verifier saw nothing wrong.
    #expect(f.rig.adapter.statistics.completedRequests >= 5)
    // …and was counted: two reads, one write, one flush, one WRITE ZEROES, one session.
    let text = f.registry.emitToString()
    for line in [
      #"storport_requests_total{frontend="nbd",op="read"} 2"#,
      #"storport_request_bytes_total{frontend="nbd",op="read"} 12288"#,
      #"storport_requests_total{frontend="nbd",op="write"} 1"#,
      #"storport_request_bytes_total{frontend="nbd",op="write"} 8192"#,
      #"storport_requests_total{frontend="nbd",op="flush"} 1"#,
      #"storport_requests_total{frontend="nbd",op="other"} 1"#,
      #"storport_request_duration_seconds_count{frontend="nbd",op="read"} 2"#,
      #"storport_sessions{frontend="nbd"} 1.0"#,
    ] {
      #expect(text.contains(line), "\(line)")
    }
    #expect(f.rig.runtime.verifier.verdict.hasPrefix("PASS"))
  }

  /// Replies finished together share wire buffers (one per 256 KiB): a burst of reads of
  /// mixed sizes — 4 KiB ones, and 320 KiB ones that start a new buffer — each gets its own
  /// bytes. Positive control: every range holds different bytes (a reply carrying another's
  /// data, or shifted within a shared buffer, would not match).
  @Test func aBurstOfReadsOfMixedSizesGetsEachItsOwnBytes() throws {
    let f = try Fixture()
    let c = try NBDTestClient(port: f.port)
    #expect(c.handshake(export: "disk", structured: true) == 4 << 20)
    let disk = (0..<(4 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) }
    c.send(NBDTestClient.request(NBD.cmdWrite, cookie: 0, offset: 0, length: UInt32(disk.count)) + disk)
    #expect(c.reply()?.error == 0)
    var expected: [UInt64: (offset: Int, length: Int)] = [:]
    var burst: [UInt8] = []
    for i in 1...40 {
      let length = i % 3 == 0 ? 320 << 10 : 4096
      let offset = (i * 97 % 700) * 4096
      expected[UInt64(i)] = (offset, length)
      burst += NBDTestClient.request(
        NBD.cmdRead, cookie: UInt64(i), offset: UInt64(offset), length: UInt32(length))
    }
    c.send(burst)
    var answered = Set<UInt64>()
    while answered.count < expected.count, let r = c.chunk() {
      let want = try #require(expected[r.cookie], "a reply to a request not sent: \(r.cookie)")
      #expect(r.type == NBD.replyTypeOffsetData && r.payload.count == 8 + want.length)
      #expect(NBDTestClient.read64(r.payload, 0) == UInt64(want.offset), "the chunk's offset")
      let same = r.payload.dropFirst(8).elementsEqual(disk[want.offset..<want.offset + want.length])
      #expect(same, "read \(r.cookie) (\(want.length) bytes at \(want.offset)) came back with other bytes")
      answered.insert(r.cookie)
    }
    #expect(answered.count == expected.count)
    #expect(f.rig.runtime.verifier.verdict.hasPrefix("PASS"))
  }

  @Test func anUnknownExportIsRefusedAndTheServerStaysUp() throws {
    let f = try Fixture()
    let c = try NBDTestClient(port: f.port)
    #expect(c.handshake(export: "nonexistent") == nil)
    let c2 = try NBDTestClient(port: f.port)
    #expect(c2.handshake(export: "disk") == 4 << 20)
  }

  /// A port already taken is refused in the system's words ("Address already in use"), not as
  /// the NIO call that failed ("bind(descriptor:ptr:bytes:): …) (errno: 98)"), and the server
  /// already listening there keeps serving.
  @Test func aPortInUseIsRefusedInTheSystemsWordsAndTheFirstServerStaysUp() throws {
    let f = try Fixture()
    let second = NBDServer(exports: [])
    defer { second.shutdown() }
    #expect {
      _ = try second.start(host: "127.0.0.1", port: f.port)
    } throws: { error in
      let text = "\((error as? ListenError)?.description ?? "not a ListenError: \(error)")"
      return text == "Address already in use (errno 98)"
    }
    let c = try NBDTestClient(port: f.port)
    #expect(c.handshake(export: "disk") == 4 << 20)
  }

  @Test func badRequestsGetTheProtocolsErrorsAndOthersAreUnaffected() throws {
    let f = try Fixture()
    let c = try NBDTestClient(port: f.port)
    #expect(c.handshake(export: "disk") != nil)
    // Unaligned, past the end, unknown command: EINVAL, the connection stays.
    c.send(NBDTestClient.request(NBD.cmdRead, cookie: 10, offset: 100, length: 4096))
    #expect(c.reply()?.error == NBD.einval)
    c.send(NBDTestClient.request(NBD.cmdRead, cookie: 11, offset: 4 << 20, length: 4096))
    #expect(c.reply()?.error == NBD.einval)
    c.send(NBDTestClient.request(99, cookie: 12, offset: 0, length: 0))
    #expect(c.reply()?.error == NBD.einval)
    c.send(NBDTestClient.request(NBD.cmdRead, cookie: 13, offset: 0, length: 4096))
    #expect(c.reply(dataLength: 4096)?.cookie == 13)
    // The refusals are counted as failed requests, beside the read that went through.
    let text = f.registry.emitToString()
    for line in [
      #"storport_requests_total{frontend="nbd",op="read"} 3"#,
      #"storport_request_errors_total{frontend="nbd",op="read"} 2"#,
      #"storport_request_errors_total{frontend="nbd",op="other"} 1"#,
    ] {
      #expect(text.contains(line), "\(line)")
    }
    // A bad magic ends this connection only, and says why in the log (at info level).
    let other = try NBDTestClient(port: f.port)
    #expect(other.handshake(export: "disk") != nil)
    #expect(!f.log.lines.contains { $0.contains("closed by the server") }, "positive control: nothing yet")
    c.send([UInt8](repeating: 0xEE, count: 28))
    #expect(c.closedByPeer())
    #expect(
      f.log.lines.contains {
        $0.contains("NBD connection closed by the server") && $0.contains("bad request magic")
      },
      "\(f.log.lines)")
    other.send(NBDTestClient.request(NBD.cmdRead, cookie: 14, offset: 0, length: 4096))
    #expect(other.reply(dataLength: 4096)?.cookie == 14)
  }

  @Test func aWriteLargerThanAllowedEndsTheConnectionWithoutAllocatingIt() throws {
    let f = try Fixture()
    let c = try NBDTestClient(port: f.port)
    #expect(c.handshake(export: "disk") != nil)
    c.send(NBDTestClient.request(NBD.cmdWrite, cookie: 1, offset: 0, length: 0xFFFF_FFF0))
    #expect(c.closedByPeer())
  }

  @Test func aDisconnectBehindManyRequestsAnswersThemAllFirst() throws {
    let f = try Fixture()
    let c = try NBDTestClient(port: f.port)
    #expect(c.handshake(export: "disk") != nil)
    // More reads than the flow limit, and NBD_CMD_DISC, in one write.
    let count = 3 * ReadFlow.nbdLimit
    var burst: [UInt8] = []
    for i in 0..<count {
      burst += NBDTestClient.request(
        NBD.cmdRead, cookie: UInt64(i), offset: UInt64(i % 64) * 4096, length: 4096)
    }
    c.send(burst + NBDTestClient.request(NBD.cmdDisconnect, cookie: 9999, offset: 0, length: 0))
    var cookies = Set<UInt64>()
    while let r = c.reply(dataLength: 4096), r.error == 0 { cookies.insert(r.cookie) }
    #expect(cookies == Set((0..<UInt64(count))), "every request before the disconnect answered")
    #expect(c.closedByPeer(), "then the connection closes")
  }

  @Test func aClientThatNeverReadsIsNoLongerReadFrom() throws {
    let f = try Fixture()
    let c = try NBDTestClient(port: f.port)
    #expect(c.handshake(export: "disk") != nil)
    // 400 reads of 1 MiB (11 KiB of requests, 400 MiB of replies), and not one reply read.
    let count = 400
    var burst: [UInt8] = []
    for i in 0..<count {
      burst += NBDTestClient.request(
        NBD.cmdRead, cookie: UInt64(i), offset: UInt64(i % 4) << 20, length: 1 << 20)
    }
    let before = f.rig.adapter.statistics.completedRequests
    c.send(burst)
    // Wait until the adapter stops completing (unchanged for 300 ms; at most 20 s), then count.
    var last = UInt64.max
    var stable = 0
    for _ in 0..<400 where stable < 6 {
      let now = f.rig.adapter.statistics.completedRequests
      stable = now == last ? stable + 1 : 0
      last = now
      usleep(50_000)
    }
    let served = Int(last - before)
    // The server stopped reading once replies piled up: what it served is bounded by its
    // limits (64 MiB in the adapter, a 4 MiB high water mark) and the kernel's socket buffers,
    // not by what the client sent.
    #expect(served > 0 && served < count / 2, "served \(served) of \(count) while the client read nothing")
    // And it was only paused: reading the replies lets the rest through.
    var cookies = Set<UInt64>()
    while cookies.count < count, let r = c.reply(dataLength: 1 << 20), r.error == 0 {
      cookies.insert(r.cookie)
    }
    #expect(cookies.count == count)
  }

  @Test func structuredRepliesAnswerReadsInChunks() throws {
    let f = try Fixture()
    let c = try NBDTestClient(port: f.port)
    #expect(c.handshake(export: "disk", structured: true) == 4 << 20)
    let data = (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 11 &+ 5) }
    c.send(NBDTestClient.request(NBD.cmdWrite, cookie: 1, offset: 8192, length: 4096) + data)
    #expect(c.reply()?.error == 0, "a write's success may stay a simple reply")
    // A read: one OFFSET_DATA chunk, flagged DONE, with the offset before the data.
    c.send(NBDTestClient.request(NBD.cmdRead, cookie: 2, offset: 8192, length: 4096))
    let read = try #require(c.chunk())
    #expect(read.flags == NBD.replyFlagDone && read.type == NBD.replyTypeOffsetData && read.cookie == 2)
    #expect(read.payload.count == 8 + 4096 && NBDTestClient.read64(read.payload, 0) == 8192)
    #expect(Array(read.payload.dropFirst(8)) == data)
    // A read of length 0: a NONE chunk (an OFFSET_DATA chunk must carry data).
    c.send(NBDTestClient.request(NBD.cmdRead, cookie: 4, offset: 8192, length: 0))
    let empty = try #require(c.chunk())
    #expect(empty.flags == NBD.replyFlagDone && empty.type == NBD.replyTypeNone && empty.cookie == 4)
    #expect(empty.payload.isEmpty)
    // A read out of range: an ERROR chunk (EINVAL and a message), never a simple reply.
    c.send(NBDTestClient.request(NBD.cmdRead, cookie: 3, offset: 4 << 20, length: 4096))
    let refused = try #require(c.chunk())
    #expect(refused.flags == NBD.replyFlagDone && refused.type == NBD.replyTypeError && refused.cookie == 3)
    #expect(refused.payload.count >= 6 && NBDTestClient.read32(refused.payload, 0) == NBD.einval)
    let messageLength = Int(refused.payload[4]) << 8 | Int(refused.payload[5])
    #expect(refused.payload.count == 6 + messageLength && messageLength > 0)
  }

  @Test func aReadOnlyExportRefusesWrites() throws {
    let f = try Fixture(readOnly: true)
    let c = try NBDTestClient(port: f.port)
    #expect(c.handshake(export: "disk") != nil)
    c.send(
      NBDTestClient.request(NBD.cmdWrite, cookie: 1, offset: 0, length: 4096)
        + [UInt8](repeating: 1, count: 4096))
    #expect(c.reply()?.error == NBD.eperm)
  }
}

/// The read-pause rule without a socket: reading pauses at the limit or when replies pile up,
/// and resumes when both are back under, once each; a disconnect closes after the last reply.
@Suite struct ReadFlowTests {
  @Test func readingPausesAtTheLimitAndResumesAtHalf() {
    let flow = ReadFlow(limit: ReadFlow.nbdLimit)
    let pauses = (0..<ReadFlow.nbdLimit + 10).filter { _ in flow.started() == false }
    #expect(pauses == [ReadFlow.nbdLimit - 1], "one pause, on the request that reaches the limit")
    var resumes: [Int] = []
    while flow.outstanding > 0 {
      if flow.finished().autoRead == true { resumes.append(flow.outstanding) }
    }
    #expect(resumes == [ReadFlow.nbdLimit / 2])
    // Paused and resumed again: the rule holds on every round, not only the first.
    #expect((0..<ReadFlow.nbdLimit).filter { _ in flow.started() != nil }.count == 1)
  }

  @Test func repliesPilingUpPauseReadingUntilTheyDrain() {
    let flow = ReadFlow()
    #expect(flow.started() == nil)
    #expect(flow.writability(false) == false, "unwritable: pause")
    #expect(flow.writability(false) == nil && flow.started() == nil, "already paused")
    #expect(flow.finished().autoRead == nil && flow.finished().autoRead == nil, "still unwritable")
    #expect(flow.writability(true) == true, "drained: resume")
    // Both conditions: writable again but too many requests out keeps it paused.
    let limited = ReadFlow(limit: 4)
    for _ in 0..<4 { _ = limited.started() }
    #expect(limited.writability(false) == nil, "paused by the limit already")
    #expect(limited.writability(true) == nil, "writable, but 4 requests out")
    #expect(limited.finished().autoRead == nil && limited.finished().autoRead == true, "at 2 of 4: resume")
  }

  @Test func bytesInFlightPauseReadingOnTheirOwn() {
    // Far from the count limit, 64 MiB of requests pause reading; under 32 MiB it resumes.
    let flow = ReadFlow(limit: ReadFlow.nbdLimit, byteLimit: ReadFlow.nbdByteLimit)
    let mib = 1 << 20
    #expect(flow.started(bytes: 32 * mib) == nil && flow.started(bytes: 31 * mib) == nil)
    #expect(flow.started(bytes: mib) == false, "64 MiB in two requests and a bit: pause")
    #expect(flow.outstanding == 3, "the count limit (64) is far")
    #expect(flow.finished(bytes: mib).autoRead == nil, "63 MiB: still above half")
    #expect(flow.finished(bytes: 31 * mib).autoRead == true, "32 MiB: resume")
  }

  @Test func aDisconnectClosesAfterTheLastReply() {
    let flow = ReadFlow()
    for _ in 0..<3 { _ = flow.started() }
    #expect(!flow.disconnect(), "three replies still owed")
    #expect(!flow.finished().close && !flow.finished().close)
    #expect(flow.finished().close, "the last reply closes")
    #expect(ReadFlow().disconnect(), "nothing owed: close at once")
  }
}

/// The session parser alone, byte by byte: what any split of the input does is what the
/// whole input does (the property a fuzzer leans on), and lengths are never trusted.
@Suite struct NBDSessionTests {
  static let exports = [NBDSession.Export(name: "disk", sizeBytes: 1 << 20, blockSize: 512)]

  @Test func splittingTheInputChangesNothing() {
    let go =
      NBDTestClient.be(NBD.optionMagic) + NBDTestClient.be(NBD.optGo) + NBDTestClient.be(UInt32(10))
      + NBDTestClient.be(UInt32(4)) + Array("disk".utf8) + NBDTestClient.be(UInt16(0))
    let input =
      NBDTestClient.be(NBD.clientFlagFixedNewstyle) + go
      + NBDTestClient.request(NBD.cmdRead, cookie: 7, offset: 512, length: 1024)
    var whole = NBDSession(exports: Self.exports)
    let all = whole.receive(input)
    var pieces = NBDSession(exports: Self.exports)
    var split: [NBDSession.Event] = []
    for b in input { split += pieces.receive([b]) }
    #expect(all == split)
    #expect(all.last == .read(cookie: 7, offset: 512, length: 1024))
  }

  @Test func hugeOptionLengthsCloseTheConnection() {
    var s = NBDSession(exports: Self.exports)
    let events = s.receive(
      NBDTestClient.be(NBD.clientFlagFixedNewstyle) + NBDTestClient.be(NBD.optionMagic)
        + NBDTestClient.be(NBD.optGo)
        + NBDTestClient.be(UInt32.max))
    #expect(s.isClosed)
    if case .close = events.last {} else { Issue.record("expected a close, got \(events)") }
  }

  @Test func oldstyleClientsAreRefused() {
    var s = NBDSession(exports: Self.exports)
    _ = s.receive([0, 0, 0, 0])
    #expect(s.isClosed)
  }
}

/// A log handler that keeps what is logged at info level and above, as "LEVEL message metadata".
final class LogCapture: LogHandler, @unchecked Sendable {
  private let kept = Locked<[String]>([])
  var lines: [String] { kept.withLock { $0 } }
  var metadata: Logger.Metadata = [:]
  var logLevel: Logger.Level = .info
  subscript(metadataKey key: String) -> Logger.Metadata.Value? {
    get { metadata[key] }
    set { metadata[key] = newValue }
  }
  func log(event: LogEvent) {
    let line = "\(event.level) \(event.message) \(event.metadata ?? [:])"
    kept.withLock { $0.append(line) }
  }
}
