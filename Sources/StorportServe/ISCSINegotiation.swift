/// iSCSI text keys (RFC 7143 §6): `key=value` pairs, each ended by a NUL byte.
enum ISCSIText {
  /// Longest key (RFC 7143 §6.1: 63 bytes) and value this target reads (8192 bytes covers
  /// every standard key; CHAP challenges in hex are the longest).
  static let maximumKeyBytes = 63
  static let maximumValueBytes = 8192

  enum Failure: Error, Equatable, Sendable {
    case malformed(String)
  }

  /// Parses a data segment into ordered pairs. Trailing NULs and empty entries are allowed;
  /// a pair without `=`, an empty or over-long key or an over-long value is malformed.
  static func parse(_ data: [UInt8]) throws(Failure) -> [(key: String, value: String)] {
    var pairs: [(key: String, value: String)] = []
    for entry in data.split(separator: 0, omittingEmptySubsequences: true) {
      guard let eq = entry.firstIndex(of: UInt8(ascii: "=")) else {
        throw .malformed("a text entry without '=' (\(entry.count) bytes)")
      }
      let key = entry[entry.startIndex..<eq]
      let value = entry[(eq + 1)...]
      guard !key.isEmpty, key.count <= maximumKeyBytes else {
        throw .malformed("a text key of \(key.count) bytes (1…\(maximumKeyBytes))")
      }
      guard value.count <= maximumValueBytes else {
        throw .malformed("the value of \(String(decoding: key, as: UTF8.self)) is \(value.count) bytes")
      }
      pairs.append((String(decoding: key, as: UTF8.self), String(decoding: value, as: UTF8.self)))
    }
    return pairs
  }

  static func encode(_ pairs: [(String, String)]) -> [UInt8] {
    var out: [UInt8] = []
    for (k, v) in pairs {
      out += Array(k.utf8)
      out.append(UInt8(ascii: "="))
      out += Array(v.utf8)
      out.append(0)
    }
    return out
  }
}

/// The operational parameters of a session (RFC 7143 §13), as negotiated: the defaults until
/// the initiator offers something else. Only ErrorRecoveryLevel 0, at most
/// ``ISCSISession/maximumConnections`` connections per session,
/// and no markers are supported, and the answers say so.
struct ISCSIParameters: Sendable, Equatable {
  var headerDigest = false
  var dataDigest = false
  var maxConnections = 1
  var initialR2T = true
  var immediateData = true
  /// What the initiator can receive per PDU (declarative: ours is separate).
  var initiatorMaxRecvDataSegmentLength = 8192
  var maxBurstLength = 262_144
  var firstBurstLength = 65_536
  var defaultTime2Wait = 2
  var defaultTime2Retain = 20
  var maxOutstandingR2T = 1
  var dataPDUInOrder = true
  var dataSequenceInOrder = true
  var errorRecoveryLevel = 0
}

/// The target's side of login-phase negotiation: answers to the keys an initiator offers.
struct ISCSINegotiator: Sendable {
  /// What we can receive per PDU, declared to the initiator.
  let targetMaxRecvDataSegmentLength: Int
  var parameters = ISCSIParameters()
  /// Whether we declared our MaxRecvDataSegmentLength yet.
  var declaredReceiveLength = false
  /// This is the session's leading connection: false once it joins a session, whose
  /// leading-only keys then bind it.
  var leading = true

  /// The keys only a session's leading connection negotiates (RFC 7143 §13: "LO").
  static let leadingOnly: Set<String> = [
    "MaxConnections", "InitialR2T", "ImmediateData", "MaxBurstLength", "FirstBurstLength", "DefaultTime2Wait",
    "DefaultTime2Retain", "MaxOutstandingR2T", "DataPDUInOrder", "DataSequenceInOrder", "ErrorRecoveryLevel",
  ]

  /// This connection joins a session negotiated with `session`: its leading-only values hold;
  /// the connection's own keys (digests, MaxRecvDataSegmentLength) start from their defaults.
  mutating func join(_ session: ISCSIParameters) {
    let fresh = ISCSIParameters()
    var p = session
    p.headerDigest = fresh.headerDigest
    p.dataDigest = fresh.dataDigest
    p.initiatorMaxRecvDataSegmentLength = fresh.initiatorMaxRecvDataSegmentLength
    parameters = p
    leading = false
  }

  init(targetMaxRecvDataSegmentLength: Int) {
    self.targetMaxRecvDataSegmentLength = targetMaxRecvDataSegmentLength
  }

  enum Failure: Error, Equatable, Sendable {
    /// A value out of range or not a value of the key's type: login fails (initiator error).
    case badValue(String)
  }

  private static func number(_ key: String, _ v: String, _ range: ClosedRange<Int>) throws(Failure) -> Int {
    guard let n = Int(v), range.contains(n) else {
      throw .badValue("\(key)=\(v.prefix(32)) (expected \(range.lowerBound)…\(range.upperBound))")
    }
    return n
  }

  private static func boolean(_ key: String, _ v: String) throws(Failure) -> Bool {
    switch v {
    case "Yes": return true
    case "No": return false
    default: throw .badValue("\(key)=\(v.prefix(32)) (expected Yes or No)")
    }
  }

  /// The first of the offered digests we support (CRC32C, None), or Reject.
  private static func digest(_ v: String) -> (String, Bool?) {
    for choice in v.split(separator: ",") {
      if choice == "CRC32C" { return ("CRC32C", true) }
      if choice == "None" { return ("None", false) }
    }
    return ("Reject", nil)
  }

  /// Answers the operational keys of one login or text request. Keys handled elsewhere
  /// (InitiatorName, TargetName, SessionType, AuthMethod, CHAP_*) are skipped here; unknown
  /// keys are answered NotUnderstood; X- and X# keys too (RFC 7143 §6.2).
  mutating func answer(_ pairs: [(key: String, value: String)]) throws(Failure) -> [(String, String)] {
    var out: [(String, String)] = []
    var p = parameters
    for (key, v) in pairs {
      // On a connection that joins a session, its leading-only keys are not negotiated again.
      if !leading && Self.leadingOnly.contains(key) {
        out.append((key, "Irrelevant"))
        continue
      }
      switch key {
      case "InitiatorName", "InitiatorAlias", "TargetName", "SessionType", "AuthMethod", "CHAP_A", "CHAP_N",
        "CHAP_R", "CHAP_I", "CHAP_C":
        continue
      case "HeaderDigest":
        let (answer, on) = Self.digest(v)
        if let on { p.headerDigest = on }
        out.append((key, answer))
      case "DataDigest":
        let (answer, on) = Self.digest(v)
        if let on { p.dataDigest = on }
        out.append((key, answer))
      case "MaxConnections":
        p.maxConnections = min(try Self.number(key, v, 1...65535), ISCSISession.maximumConnections)
        out.append((key, String(p.maxConnections)))
      case "InitialR2T":
        // OR: this target always asks for its data with R2T beyond the immediate data.
        _ = try Self.boolean(key, v)
        p.initialR2T = true
        out.append((key, "Yes"))
      case "ImmediateData":
        p.immediateData = try Self.boolean(key, v)
        out.append((key, p.immediateData ? "Yes" : "No"))
      case "MaxRecvDataSegmentLength":
        p.initiatorMaxRecvDataSegmentLength = try Self.number(key, v, 512...16_777_215)
      case "MaxBurstLength":
        p.maxBurstLength = min(try Self.number(key, v, 512...16_777_215), 1_048_576)
        out.append((key, String(p.maxBurstLength)))
      case "FirstBurstLength":
        p.firstBurstLength = min(try Self.number(key, v, 512...16_777_215), 262_144)
        out.append((key, ""))  // the value enforced is answered below, after the clamp
      case "DefaultTime2Wait":
        p.defaultTime2Wait = max(try Self.number(key, v, 0...3600), 0)
        out.append((key, String(p.defaultTime2Wait)))
      case "DefaultTime2Retain":
        p.defaultTime2Retain = min(try Self.number(key, v, 0...3600), 0)
        out.append((key, String(p.defaultTime2Retain)))
      case "MaxOutstandingR2T":
        p.maxOutstandingR2T = min(try Self.number(key, v, 1...65535), 1)
        out.append((key, String(p.maxOutstandingR2T)))
      case "DataPDUInOrder":
        _ = try Self.boolean(key, v)
        out.append((key, "Yes"))
      case "DataSequenceInOrder":
        _ = try Self.boolean(key, v)
        out.append((key, "Yes"))
      case "ErrorRecoveryLevel":
        p.errorRecoveryLevel = min(try Self.number(key, v, 0...2), 0)
        out.append((key, String(p.errorRecoveryLevel)))
      case "IFMarker", "OFMarker":
        out.append((key, "No"))
      case "IFMarkInt", "OFMarkInt":
        out.append((key, "Irrelevant"))
      default:
        out.append((key, "NotUnderstood"))
      }
    }
    // The burst the initiator may send unsolicited never exceeds the whole burst.
    p.firstBurstLength = min(p.firstBurstLength, p.maxBurstLength)
    out = out.map { $0.0 == "FirstBurstLength" && leading ? ($0.0, String(p.firstBurstLength)) : $0 }
    parameters = p
    if !declaredReceiveLength {
      declaredReceiveLength = true
      out.append(("MaxRecvDataSegmentLength", String(targetMaxRecvDataSegmentLength)))
    }
    return out
  }
}
