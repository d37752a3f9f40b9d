/// One NBD connection's protocol state, independent of any network code (so it can be
/// fuzzed and tested byte by byte): bytes from the client go in with ``receive(_:)``; what to
/// send and what to do come out as ``Event``s. The session never trusts a length: option data
/// over 64 KiB, payloads over 32 MiB, requests outside the export and unknown magics end the
/// connection or draw the protocol's error, and never make it allocate more than it was sent.
public struct NBDSession: Sendable {
  /// What the session asks its owner to do.
  public enum Event: Sendable, Equatable {
    /// Send these bytes.
    case send([UInt8])
    /// Start an I/O; answer with ``reply(cookie:error:data:read:structured:)``.
    case read(cookie: UInt64, offset: UInt64, length: UInt32)
    case write(cookie: UInt64, offset: UInt64, data: [UInt8], fua: Bool)
    case flush(cookie: UInt64)
    case trim(cookie: UInt64, offset: UInt64, length: UInt32)
    case writeZeroes(cookie: UInt64, offset: UInt64, length: UInt32, fua: Bool)
    /// Close the connection (after sending what came before), with the reason for the log.
    case close(String)
    /// The client sent NBD_CMD_DISC: close once every request already started is answered
    /// (the protocol has the server finish outstanding requests before it closes).
    case disconnect
  }

  /// What the server exports.
  public struct Export: Sendable {
    public var name: String
    public var description: String
    public var sizeBytes: UInt64
    public var blockSize: UInt32
    public var readOnly: Bool
    public init(
      name: String, description: String = "", sizeBytes: UInt64, blockSize: UInt32, readOnly: Bool = false
    ) {
      self.name = name
      self.description = description
      self.sizeBytes = sizeBytes
      self.blockSize = blockSize
      self.readOnly = readOnly
    }
  }

  enum Phase: Equatable { case clientFlags, options, transmission, closed }

  let exports: [Export]
  var phase = Phase.clientFlags
  var noZeroes = false
  /// Bytes received and not yet parsed start at `head`: consuming a request moves `head`
  /// (constant time), and the parsed prefix is dropped once per `receive`, so a burst of many
  /// requests in one read costs time linear in its size.
  var buffer: [UInt8] = []
  var head = 0
  var exportIndex: Int?
  /// NBD_OPT_STRUCTURED_REPLY was negotiated: reads (and errors) are answered in structured
  /// reply chunks.
  public private(set) var structuredReplies = false
  /// The command (NBD_CMD_*) of a request the last ``step()`` answered with an error itself —
  /// unaligned, out of range, too long, unknown, a write to a read-only export — so the owner
  /// can count it; nil otherwise.
  public private(set) var refusedCommand: UInt16?

  public init(exports: [Export]) {
    self.exports = exports
  }

  /// The server's greeting (NBDMAGIC, IHAVEOPT, handshake flags).
  public static func greeting() -> [UInt8] {
    var out: [UInt8] = []
    out.appendBE(NBD.initMagic)
    out.appendBE(NBD.optionMagic)
    out.appendBE(NBD.flagFixedNewstyle | NBD.flagNoZeroes)
    return out
  }

  /// The export a transmission phase serves (after NBD_OPT_GO / EXPORT_NAME).
  public var currentExport: Export? { exportIndex.map { exports[$0] } }

  public var isClosed: Bool { phase == .closed }

  /// Received bytes not yet parsed.
  var available: Int { buffer.count - head }

  /// Feeds bytes from the client; returns what to do, in order (everything they complete).
  public mutating func receive(_ bytes: [UInt8]) -> [Event] {
    append(bytes)
    var events: [Event] = []
    while let step = step() { events += step }
    return events
  }

  /// Keeps bytes from the client for ``step()``.
  public mutating func append(_ bytes: [UInt8]) {
    guard phase != .closed else { return }
    if head > 0 {
      buffer.removeSubrange(0..<head)
      head = 0
    }
    buffer += bytes
  }

  /// Parses one message (an option, a request) from what was appended: what to do for it
  /// (possibly nothing), or nil when no whole message is left — so an owner that must stop
  /// taking requests (back-pressure) leaves the rest parsed later, not started now.
  public mutating func step() -> [Event]? {
    guard phase != .closed else { return nil }
    refusedCommand = nil
    let before = head
    let events = advance()
    return events.isEmpty && head == before && phase != .closed ? nil : events
  }

  private mutating func close(_ reason: String) -> [Event] {
    phase = .closed
    buffer.removeAll()
    head = 0
    return [.close(reason)]
  }

  private mutating func advance() -> [Event] {
    switch phase {
    case .clientFlags:
      guard available >= 4 else { return [] }
      let flags = buffer.readBE32(at: head)
      head += 4
      guard flags & NBD.clientFlagFixedNewstyle != 0 else {
        return close("client does not speak fixed newstyle NBD (client flags 0x\(String(flags, radix: 16)))")
      }
      guard flags & ~(NBD.clientFlagFixedNewstyle | NBD.clientFlagNoZeroes) == 0 else {
        return close("unknown client flags 0x\(String(flags, radix: 16))")
      }
      noZeroes = flags & NBD.clientFlagNoZeroes != 0
      phase = .options
      return []
    case .options:
      guard available >= 16 else { return [] }
      guard buffer.readBE64(at: head) == NBD.optionMagic else { return close("bad option magic") }
      let option = buffer.readBE32(at: head + 8)
      let length = buffer.readBE32(at: head + 12)
      guard length <= NBD.maximumOptionData else {
        return close("option \(option) with \(length) bytes of data (at most \(NBD.maximumOptionData))")
      }
      guard available >= 16 + Int(length) else { return [] }
      let data = Array(buffer[head + 16..<head + 16 + Int(length)])
      head += 16 + Int(length)
      return handleOption(option, data)
    case .transmission:
      guard available >= 28 else { return [] }
      guard buffer.readBE32(at: head) == NBD.requestMagic else { return close("bad request magic") }
      let flags = buffer.readBE16(at: head + 4)
      let type = buffer.readBE16(at: head + 6)
      let cookie = buffer.readBE64(at: head + 8)
      let offset = buffer.readBE64(at: head + 16)
      let length = buffer.readBE32(at: head + 24)
      if type == NBD.cmdWrite {
        // The payload follows the header; a length too large cannot be skipped safely.
        guard length <= NBD.maximumPayload else {
          return close("write of \(length) bytes (at most \(NBD.maximumPayload))")
        }
        guard available >= 28 + Int(length) else { return [] }
        let data = Array(buffer[head + 28..<head + 28 + Int(length)])
        head += 28 + Int(length)
        if let error = check(offset, length, writes: true) {
          return refuse(cookie, error, command: type)
        }
        return [.write(cookie: cookie, offset: offset, data: data, fua: flags & NBD.cmdFlagFUA != 0)]
      }
      head += 28
      switch type {
      case NBD.cmdRead:
        guard length <= NBD.maximumPayload else { return refuse(cookie, NBD.eoverflow, command: type) }
        if let error = check(offset, length, writes: false) {
          return refuse(cookie, error, command: type)
        }
        return [.read(cookie: cookie, offset: offset, length: length)]
      case NBD.cmdDisconnect:
        phase = .closed
        buffer.removeAll()
        head = 0
        return [.disconnect]
      case NBD.cmdFlush:
        return [.flush(cookie: cookie)]
      case NBD.cmdTrim:
        if let error = check(offset, length, writes: true) {
          return refuse(cookie, error, command: type)
        }
        return [.trim(cookie: cookie, offset: offset, length: length)]
      case NBD.cmdWriteZeroes:
        if let error = check(offset, length, writes: true) {
          return refuse(cookie, error, command: type)
        }
        return [
          .writeZeroes(cookie: cookie, offset: offset, length: length, fua: flags & NBD.cmdFlagFUA != 0)
        ]
      default:
        return refuse(cookie, NBD.einval, command: type)
      }
    case .closed:
      return []
    }
  }

  /// EINVAL for an unaligned or out-of-range request, EPERM for a write to a read-only export.
  private func check(_ offset: UInt64, _ length: UInt32, writes: Bool) -> UInt32? {
    guard let e = currentExport else { return NBD.einval }
    if writes && e.readOnly { return NBD.eperm }
    let bs = UInt64(e.blockSize)
    guard offset % bs == 0, UInt64(length) % bs == 0 else { return NBD.einval }
    guard offset <= e.sizeBytes, UInt64(length) <= e.sizeBytes - offset else { return NBD.einval }
    return nil
  }

  private mutating func handleOption(_ option: UInt32, _ data: [UInt8]) -> [Event] {
    switch option {
    case NBD.optAbort:
      let ack = Self.optionReply(option, NBD.repAck, [])
      phase = .closed
      buffer.removeAll()
      head = 0
      // The client's orderly end of the negotiation (`nbdinfo --list` ends so): a disconnect,
      // not a close for something it did wrong.
      return [.send(ack), .disconnect]
    case NBD.optList:
      guard data.isEmpty else { return [.send(Self.optionReply(option, NBD.repErrInvalid, []))] }
      var out: [UInt8] = []
      for e in exports {
        var payload: [UInt8] = []
        payload.appendBE(UInt32(e.name.utf8.count))
        payload += Array(e.name.utf8)
        out += Self.optionReply(option, NBD.repServer, payload)
      }
      out += Self.optionReply(option, NBD.repAck, [])
      return [.send(out)]
    case NBD.optExportName:
      let name = String(decoding: data, as: UTF8.self)
      guard let i = index(of: name) else {
        return close("export \(String(reflecting: name)) not found (NBD_OPT_EXPORT_NAME)")
      }
      exportIndex = i
      phase = .transmission
      var out: [UInt8] = []
      out.appendBE(exports[i].sizeBytes)
      out.appendBE(transmissionFlags(exports[i]))
      if !noZeroes { out += [UInt8](repeating: 0, count: 124) }
      return [.send(out)]
    case NBD.optInfo, NBD.optGo:
      // u32 name length, name, u16 count, count × u16 information requests.
      guard data.count >= 6 else { return [.send(Self.optionReply(option, NBD.repErrInvalid, []))] }
      let nameLength = Int(data.readBE32(at: 0))
      guard nameLength <= data.count - 6 else {
        return [.send(Self.optionReply(option, NBD.repErrInvalid, []))]
      }
      let name = String(decoding: data[4..<4 + nameLength], as: UTF8.self)
      let count = Int(data.readBE16(at: 4 + nameLength))
      guard data.count == 6 + nameLength + 2 * count else {
        return [.send(Self.optionReply(option, NBD.repErrInvalid, []))]
      }
      guard let i = index(of: name) else { return [.send(Self.optionReply(option, NBD.repErrUnknown, []))] }
      let e = exports[i]
      var out: [UInt8] = []
      var export: [UInt8] = []
      export.appendBE(NBD.infoExport)
      export.appendBE(e.sizeBytes)
      export.appendBE(transmissionFlags(e))
      out += Self.optionReply(option, NBD.repInfo, export)
      var block: [UInt8] = []
      block.appendBE(NBD.infoBlockSize)
      block.appendBE(e.blockSize)  // minimum
      block.appendBE(max(e.blockSize, 4096))  // preferred
      block.appendBE(NBD.maximumPayload)  // maximum
      out += Self.optionReply(option, NBD.repInfo, block)
      for k in 0..<count where data.readBE16(at: 6 + nameLength + 2 * k) == NBD.infoName {
        var info: [UInt8] = []
        info.appendBE(NBD.infoName)
        info += Array(e.name.utf8)
        out += Self.optionReply(option, NBD.repInfo, info)
      }
      out += Self.optionReply(option, NBD.repAck, [])
      if option == NBD.optGo {
        exportIndex = i
        phase = .transmission
      }
      return [.send(out)]
    case NBD.optStructuredReply:
      guard data.isEmpty else { return [.send(Self.optionReply(option, NBD.repErrInvalid, []))] }
      structuredReplies = true
      return [.send(Self.optionReply(option, NBD.repAck, []))]
    default:
      // STARTTLS, meta contexts, extended headers: not offered — the client goes on without.
      return [.send(Self.optionReply(option, NBD.repErrUnsup, []))]
    }
  }

  private func index(of name: String) -> Int? {
    if name.isEmpty { return exports.isEmpty ? nil : 0 }  // the default export
    return exports.firstIndex { $0.name == name }
  }

  private func transmissionFlags(_ e: Export) -> UInt16 {
    var f = NBD.transHasFlags | NBD.transSendFlush | NBD.transSendFUA | NBD.transCanMultiConn
    if e.readOnly { f |= NBD.transReadOnly } else { f |= NBD.transSendTrim | NBD.transSendWriteZeroes }
    return f
  }

  static func optionReply(_ option: UInt32, _ type: UInt32, _ data: [UInt8]) -> [UInt8] {
    var out: [UInt8] = []
    out.appendBE(NBD.optionReplyMagic)
    out.appendBE(option)
    out.appendBE(type)
    out.appendBE(UInt32(data.count))
    return out + data
  }

  /// The reply to request `cookie` (errno-style `error`, 0 for success; `data` for a read that
  /// succeeded). With structured replies negotiated, a read is answered by one chunk — OFFSET_DATA
  /// at `offset` on success (NONE for a read of length 0), ERROR with a message on failure —
  /// flagged NBD_REPLY_FLAG_DONE (the
  /// protocol forbids a simple reply to a read then), and any other request's error by an
  /// ERROR chunk; everything else gets a simple reply.
  public static func reply(
    cookie: UInt64, error: UInt32, data: [UInt8] = [], read offset: UInt64?, structured: Bool
  ) -> [UInt8] {
    let (head, dataFollows) = replyHead(
      cookie: cookie, error: error, dataCount: data.count, read: offset, structured: structured)
    return dataFollows ? head + data : head
  }

  /// The reply to request `cookie` up to its data: the bytes before it, and whether the read's
  /// `dataCount` bytes follow them (the front end writes both into one network buffer: one
  /// copy of the data). See ``reply(cookie:error:data:read:structured:)``.
  public static func replyHead(
    cookie: UInt64, error: UInt32, dataCount: Int, read offset: UInt64?, structured: Bool
  ) -> (head: [UInt8], dataFollows: Bool) {
    guard structured && (offset != nil || error != 0) else {
      return (simpleReply(cookie, error), error == 0 && dataCount > 0)
    }
    var out: [UInt8] = []
    out.appendBE(NBD.structuredReplyMagic)
    out.appendBE(NBD.replyFlagDone)
    if error == 0, offset != nil, dataCount == 0 {
      // A read of length 0: an OFFSET_DATA chunk must carry at least one byte, so NONE.
      out.appendBE(NBD.replyTypeNone)
      out.appendBE(cookie)
      out.appendBE(UInt32(0))
      return (out, false)
    }
    if error == 0, let offset {
      out.appendBE(NBD.replyTypeOffsetData)
      out.appendBE(cookie)
      out.appendBE(UInt32(8 + dataCount))
      out.appendBE(offset)
      return (out, true)
    }
    let message = Array(NBD.errorName(error).utf8)
    out.appendBE(NBD.replyTypeError)
    out.appendBE(cookie)
    out.appendBE(UInt32(6 + message.count))
    out.appendBE(error)
    out.appendBE(UInt16(message.count))
    return (out + message, false)
  }

  /// An error the session answers itself, in the negotiated reply form, noted in
  /// ``refusedCommand``.
  private mutating func refuse(_ cookie: UInt64, _ error: UInt32, command: UInt16) -> [Event] {
    refusedCommand = command
    return [
      .send(
        Self.reply(
          cookie: cookie, error: error, read: command == NBD.cmdRead ? 0 : nil, structured: structuredReplies)
      )
    ]
  }

  /// A simple reply's header (the data of a successful read follows it).
  public static func simpleReply(_ cookie: UInt64, _ error: UInt32) -> [UInt8] {
    var out: [UInt8] = []
    out.appendBE(NBD.simpleReplyMagic)
    out.appendBE(error)
    out.appendBE(cookie)
    return out
  }
}

extension Array where Element == UInt8 {
  mutating func appendBE<T: FixedWidthInteger>(_ v: T) {
    var be = v.bigEndian
    Swift.withUnsafeBytes(of: &be) { append(contentsOf: $0) }
  }
  /// `v`'s bytes, most significant first (its type says how many).
  static func bigEndian<T: FixedWidthInteger>(_ v: T) -> [UInt8] {
    var out: [UInt8] = []
    out.appendBE(v)
    return out
  }
  func readBE16(at i: Int) -> UInt16 { UInt16(self[i]) << 8 | UInt16(self[i + 1]) }
  func readBE32(at i: Int) -> UInt32 { (0..<4).reduce(UInt32(0)) { $0 << 8 | UInt32(self[i + $1]) } }
  func readBE64(at i: Int) -> UInt64 { (0..<8).reduce(UInt64(0)) { $0 << 8 | UInt64(self[i + $1]) } }
}

extension ArraySlice where Element == UInt8 {
  func readBE16(at i: Int) -> UInt16 { Array(self).readBE16(at: i) }
}
