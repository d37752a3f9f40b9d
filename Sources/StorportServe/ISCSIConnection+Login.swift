import NIOCore

extension ISCSIConnection {
  /// Login status classes and details (RFC 7143 §11.13.5).
  enum LoginStatus: UInt16 {
    case success = 0x0000
    case initiatorError = 0x0200
    case authenticationFailure = 0x0201
    case authorizationFailure = 0x0202
    case notFound = 0x0203
    case unsupportedVersion = 0x0205
    case tooManyConnections = 0x0206
    case missingParameter = 0x0207
    case sessionTypeUnsupported = 0x0209
    case sessionDoesNotExist = 0x020A
    case invalidDuringLogin = 0x020B
    case targetError = 0x0300
    case outOfResources = 0x0302
  }

  /// Security negotiation (0), operational negotiation (1), full feature phase (3).
  static let fullFeatureStage: UInt8 = 3

  /// One Login Request (RFC 7143 §11.12): answers its keys, moves through the stages the
  /// initiator asks for, and ends the connection after any failure response.
  mutating func login(_ pdu: ISCSIPDU) -> [Event] {
    let transit = pdu.flags & 0x80 != 0
    let continuing = pdu.flags & 0x40 != 0
    let csg = (pdu.flags >> 2) & 0x03
    let nsg = pdu.flags & 0x03
    let first = isid.isEmpty
    // A TSIH in the first request: this connection is to join that session (MC/S).
    let joining = first ? pdu.be16(14) : 0
    if first {
      isid = Array(pdu.header[8..<14])
      cid = pdu.be16(20)
      if joining == 0 {
        expCmdSN = pdu.be32(24)
        grantedMaxCmdSN = expCmdSN &- 1  // nothing granted yet
      }
      // Version-max ≥ 0 ≥ version-min: only version 0 exists.
      guard pdu.header[3] == 0 else { return loginFailure(pdu, .unsupportedVersion, []) }
    } else if Array(pdu.header[8..<14]) != isid || (joined && pdu.be16(14) != tsih) {
      return loginFailure(pdu, .initiatorError, [])
    }
    if continuing {
      // Text split over several Login PDUs: keys here fit one PDU, so this is refused.
      return loginFailure(pdu, .initiatorError, [])
    }
    guard csg == loginStage || (first && csg <= 1), csg != 2, csg != Self.fullFeatureStage else {
      return loginFailure(pdu, .initiatorError, [])
    }
    if transit && (nsg == 2 || nsg <= csg) { return loginFailure(pdu, .initiatorError, []) }
    loginStage = csg

    let pairs: [(key: String, value: String)]
    do { pairs = try ISCSIText.parse(pdu.data) } catch { return loginFailure(pdu, .initiatorError, []) }
    var answers: [(String, String)] = []
    let chapRequired = target.chap != nil
    // Who is logging in, and to what, is said once, in the first request.
    if !first && pairs.contains(where: { ["InitiatorName", "SessionType", "TargetName"].contains($0.key) }) {
      return loginFailure(pdu, .initiatorError, [])
    }
    for (key, value) in pairs {
      switch key {
      case "InitiatorName":
        guard !value.isEmpty, value.utf8.count <= 223 else { return loginFailure(pdu, .initiatorError, []) }
        initiatorName = value
      case "SessionType":
        switch value {
        case "Discovery": isDiscovery = true
        case "Normal": isDiscovery = false
        default: return loginFailure(pdu, .sessionTypeUnsupported, [])
        }
      case "TargetName":
        guard value == target.name else { return loginFailure(pdu, .notFound, []) }
      case "AuthMethod":
        guard csg == 0 else { return loginFailure(pdu, .initiatorError, []) }
        let offered = value.split(separator: ",")
        if chapRequired && offered.contains("CHAP") {
          answers.append(("AuthMethod", "CHAP"))
          authentication = .methodAgreed
        } else if !chapRequired && offered.contains("None") {
          answers.append(("AuthMethod", "None"))
        } else {
          return loginFailure(pdu, .authenticationFailure, [("AuthMethod", "Reject")])
        }
      case "CHAP_A":
        guard authentication == .methodAgreed else { return loginFailure(pdu, .authenticationFailure, []) }
        guard value.split(separator: ",").contains("5") else {
          return loginFailure(pdu, .authenticationFailure, [("CHAP_A", "Reject")])
        }
        var rng = SystemRandomNumberGenerator()
        let id = UInt8.random(in: 0...255, using: &rng)
        let challenge = (0..<16).map { _ in UInt8.random(in: 0...255, using: &rng) }
        authentication = .challenged(id: id, challenge: challenge)
        answers += [("CHAP_A", "5"), ("CHAP_I", String(id)), ("CHAP_C", "0x" + Self.hex(challenge))]
      default: break
      }
    }
    if case .challenged(let id, let challenge) = authentication, pairs.contains(where: { $0.key == "CHAP_R" })
    {
      guard let proof = chapAnswer(pairs, id: id, challenge: challenge) else {
        return loginFailure(pdu, .authenticationFailure, [])
      }
      answers += proof
      authentication = .done
    }
    if first {
      guard let name = initiatorName else { return loginFailure(pdu, .missingParameter, []) }
      // iSCSI names compare without case (RFC 3722's stringprep folds it).
      if !isDiscovery, let allowed = target.allowedInitiators,
        !allowed.contains(where: { $0.lowercased() == name.lowercased() })
      {
        return loginFailure(pdu, .authorizationFailure, [])
      }
      if !isDiscovery && !pairs.contains(where: { $0.key == "TargetName" }) {
        return loginFailure(pdu, .missingParameter, [])
      }
      if joining != 0, let failure = join(joining, initiator: name) { return loginFailure(pdu, failure, []) }
    }
    do { answers += try negotiator.answer(pairs) } catch { return loginFailure(pdu, .initiatorError, []) }
    if !isDiscovery && !sentPortalGroupTag {
      sentPortalGroupTag = true
      answers.append(("TargetPortalGroupTag", "1"))
    }

    // With CHAP required, nothing moves past security negotiation before the proof: a login
    // that skips it fails; one that asks to move on early is held in the stage (T=0).
    var moves = transit
    if chapRequired && authentication != .done {
      if csg != 0 { return loginFailure(pdu, .authenticationFailure, []) }
      if transit && authentication == .notStarted { return loginFailure(pdu, .authenticationFailure, []) }
      moves = false
    }
    var response = ISCSIPDU(.loginResponse, final: false)
    var flags = csg << 2
    if moves {
      flags |= 0x80 | nsg
      loginStage = nsg
    }
    response.flags = flags
    response.header[2] = 0  // version-max
    response.header[3] = 0  // version-active
    let enteringFullFeature = moves && nsg == Self.fullFeatureStage
    if enteringFullFeature && joined {
      // The session may have ended, or filled up, since this login began.
      guard !session.hasEnded else { return loginFailure(pdu, .sessionDoesNotExist, []) }
      let others = session.connectionCount - (session.members[cid] == nil ? 0 : 1)
      guard others < session.parameters.maxConnections else {
        return loginFailure(pdu, .tooManyConnections, [])
      }
    }
    if enteringFullFeature && tsih == 0 { tsih = assignedTSIH }
    for i in 0..<6 { response.header[8 + i] = isid[i] }
    response.setBE16(14, enteringFullFeature || joined ? tsih : 0)
    response.initiatorTaskTag = pdu.initiatorTaskTag
    response.data = ISCSIText.encode(answers)
    let out = encode(stamped(response, advance: true))
    if enteringFullFeature {
      phase = .fullFeature
      enterSession()
      let p = negotiator.parameters
      framing.headerDigest = p.headerDigest
      framing.dataDigest = p.dataDigest
      framing.maximumReceiveSegment = Self.receiveSegmentBytes
    }
    return [out]
  }

  /// Makes this connection one of the session `requested` names (RFC 7143 §6.3: the same
  /// initiator port — name and ISID — of a normal session, under its MaxConnections); returns
  /// the login status when it cannot. The connection then negotiates only connection keys:
  /// the session's leading-only ones bind it.
  mutating func join(_ requested: UInt16, initiator name: String) -> LoginStatus? {
    guard !isDiscovery, let found = findSession?(requested), !found.isDiscovery, found.isid == isid,
      found.initiatorName.lowercased() == name.lowercased()
    else { return .sessionDoesNotExist }
    // A CID in use is that connection's reinstatement: it does not count against the limit.
    let others = found.connectionCount - (found.members[cid] == nil ? 0 : 1)
    guard others < found.parameters.maxConnections else { return .tooManyConnections }
    session = found
    tsih = requested
    joined = true
    negotiator.join(found.parameters)
    return nil
  }

  /// The login is complete: a leading connection gives its session its identity and
  /// parameters; a joining one whose CID is in use ends that connection first (an implicit
  /// logout, RFC 7143 §6.3.4) through its owner. Either way it now counts in the session.
  mutating func enterSession() {
    var replaced: ISCSISession.Hooks?
    if joined {
      if session.members[cid] != nil {
        replaced = session.hooks[cid]
        session.evict(cid)
      }
    } else {
      ledSession = true
      session.isid = isid
      session.initiatorName = initiatorName ?? ""
      session.isDiscovery = isDiscovery
      session.parameters = negotiator.parameters
    }
    membership = session.enter(cid)
    memberSerial = membership!
    replaced?.close()
  }

  /// Checks the initiator's CHAP_N / CHAP_R against our challenge; answers the initiator's own
  /// challenge (mutual CHAP) when it sent one. nil: authentication fails.
  mutating func chapAnswer(_ pairs: [(key: String, value: String)], id: UInt8, challenge: [UInt8]) -> [(
    String, String
  )]? {
    guard let credentials = target.chap, let digest = target.chapDigest else { return nil }
    func value(_ key: String) -> String? { pairs.last { $0.key == key }?.value }
    guard value("CHAP_N") == credentials.user, let response = value("CHAP_R").flatMap(Self.bytes),
      response.count == 16
    else { return nil }
    let expected = digest([id] + credentials.secret + challenge)
    // Compare without an early exit.
    guard zip(response, expected).reduce(0, { $0 | ($1.0 ^ $1.1) }) == 0 else { return nil }
    guard let theirId = value("CHAP_I") else { return [] }
    let i =
      theirId.hasPrefix("0x") ? Self.bytes(theirId).flatMap { $0.count == 1 ? $0[0] : nil } : UInt8(theirId)
    guard let mutual = target.mutualChap, let i,
      let theirs = value("CHAP_C").flatMap(Self.bytes),
      !theirs.isEmpty, theirs.count <= 1024, theirs != challenge
    else { return nil }
    return [("CHAP_N", mutual.user), ("CHAP_R", "0x" + Self.hex(digest([i] + mutual.secret + theirs)))]
  }

  static func hex(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef")
    return String(bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] })
  }

  /// A CHAP binary value: `0x` and hex digits (RFC 7143 §6.1's hex-constant).
  static func bytes(_ text: String) -> [UInt8]? {
    let utf8 = Array(text.utf8)
    guard utf8.count >= 4, utf8.count % 2 == 0, utf8[0] == UInt8(ascii: "0"),
      utf8[1] | 0x20 == UInt8(ascii: "x")
    else { return nil }
    func nibble(_ c: UInt8) -> UInt8? {
      switch c {
      case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
      case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
      case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
      default: return nil
      }
    }
    var out: [UInt8] = []
    var i = 2
    while i < utf8.count {
      guard let h = nibble(utf8[i]), let l = nibble(utf8[i + 1]) else { return nil }
      out.append(h << 4 | l)
      i += 2
    }
    return out
  }

  /// A login failure response; the connection then ends.
  mutating func loginFailure(_ pdu: ISCSIPDU, _ status: LoginStatus, _ answers: [(String, String)]) -> [Event]
  {
    var response = ISCSIPDU(.loginResponse, final: true)
    response.flags = 0
    for i in 0..<6 { response.header[8 + i] = pdu.header[8 + i] }
    response.initiatorTaskTag = pdu.initiatorTaskTag
    response.header[36] = UInt8(status.rawValue >> 8)
    response.header[37] = UInt8(status.rawValue & 0xFF)
    response.data = ISCSIText.encode(answers)
    let out = encode(stamped(response, advance: true))
    return [out]
      + close("login failed: \(status) (initiator \(String(reflecting: initiatorName ?? "unnamed")))")
  }

  // MARK: - Text, NOP, Logout

  /// Text Request (RFC 7143 §11.10): SendTargets (RFC 7143 §12.7) — this target, or none for
  /// a name that is not ours; other keys NotUnderstood.
  mutating func text(_ pdu: ISCSIPDU) -> [Event] {
    guard accept(pdu) else { return [] }
    let pairs: [(key: String, value: String)]
    do { pairs = try ISCSIText.parse(pdu.data) } catch { return reject(pdu.header, .protocolError) }
    var answers: [(String, String)] = []
    for (key, value) in pairs {
      if key == "SendTargets" {
        if value == "All" || value == target.name || (value.isEmpty && !isDiscovery) {
          answers.append(("TargetName", target.name))
          answers.append(("TargetAddress", target.address))
        }
      } else {
        answers.append((key, "NotUnderstood"))
      }
    }
    var response = ISCSIPDU(.textResponse)
    response.initiatorTaskTag = pdu.initiatorTaskTag
    response.setBE32(20, 0xFFFF_FFFF)
    response.data = ISCSIText.encode(answers)
    return [encode(stamped(response, advance: true))]
  }

  /// NOP-Out (RFC 7143 §11.18): a ping (a tag other than all ones) is answered with its data.
  mutating func nopOut(_ pdu: ISCSIPDU) -> [Event] {
    guard accept(pdu) else { return [] }
    guard pdu.initiatorTaskTag != 0xFFFF_FFFF else {
      // The answer to the target's ping: its Target Transfer Tag back.
      if let ping = pendingPing, pdu.be32(20) == ping.tag { pendingPing = nil }
      return []
    }
    var response = ISCSIPDU(.nopIn)
    response.lun = pdu.lun
    response.initiatorTaskTag = pdu.initiatorTaskTag
    response.setBE32(20, 0xFFFF_FFFF)
    response.data = pdu.data.leading(negotiator.parameters.initiatorMaxRecvDataSegmentLength)
    return [encode(stamped(response, advance: true))]
  }

  /// Logout Request (RFC 7143 §11.14). Close the session (reason 0): answered, then this
  /// connection ends and its owner ends the others (``endsSession``). Close a connection
  /// (reason 1): this one — answered, then it ends — or another of the session, which its owner
  /// ends (CID NOT FOUND when there is none). Remove for recovery (2): not supported at
  /// ErrorRecoveryLevel 0 — answered so, and nothing ends. Another reason code: Reject.
  mutating func logout(_ pdu: ISCSIPDU) -> [Event] {
    let reason = pdu.flags & 0x7F
    guard reason <= 2 else { return reject(pdu.header, .invalidPduField) }
    // Waiting for its turn, or outside the window (ignored, §4.2.2.1).
    guard admit(pdu) == .now else { return [] }
    var response = ISCSIPDU(.logoutResponse)
    response.initiatorTaskTag = pdu.initiatorTaskTag
    let named = pdu.be16(20)
    if reason == 2 {
      response.header[2] = 2  // connection recovery is not supported
      return [encode(stamped(response, advance: true))]
    }
    if reason == 1 && named != cid {
      guard session.members[named] != nil, !isDiscovery else {
        response.header[2] = 1  // CID not found
        return [encode(stamped(response, advance: true))]
      }
      // Its running tasks end with it (their results are not sent); the response says cleanup
      // is done (§11.15), so it waits until they have left the adapters — else a write of the
      // closed connection could land after one the initiator sends here next.
      let ending = session.hooks[named]
      let awaiting = Set((ending?.abort(nil) ?? []).map { ISCSISession.key(session.members[named]!, $0) })
      session.evict(named)
      ending?.close()
      guard !awaiting.isEmpty else { return [encode(stamped(response, advance: true))] }
      session.hold(cid: cid, initiatorTaskTag: pdu.initiatorTaskTag, awaiting: awaiting, kind: .logout)
      return []
    }
    response.header[2] = 0  // success
    loggedOut = true
    endsSession = reason == 0
    let bytes = framing.buffer(stamped(response, advance: true))
    phase = .closed
    dropUnstarted()
    return [.logout(response: bytes, endsSession: endsSession)]
  }
}
