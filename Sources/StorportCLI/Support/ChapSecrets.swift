import StorportServe
import StorportWorkload

#if canImport(Glibc)
  import Glibc
#endif

/// iSCSI CHAP credentials for `storport serve`, from a file (`--chap-file`) or the environment
/// (`STORPORT_CHAP_USER` / `STORPORT_CHAP_SECRET`, and `STORPORT_CHAP_TARGET_USER` /
/// `STORPORT_CHAP_TARGET_SECRET` for mutual CHAP) — never from the command line, where `ps`
/// shows them. Errors name the file, the line and what is wrong, never a secret.
///
/// The file: one credential a line, `initiator USER SECRET` (what initiators must prove) and
/// optionally `target USER SECRET` (what the target proves back); `#` starts a comment. Secrets
/// are 12 to 255 bytes (RFC 7143 §12.1.3 wants at least 96 bits), without spaces.
struct ChapSecrets {
  var initiator: ISCSIChapCredentials?
  var target: ISCSIChapCredentials?

  static func load(file: String?) throws(OptionError) -> ChapSecrets {
    var s = ChapSecrets()
    let environment = [
      "STORPORT_CHAP_USER", "STORPORT_CHAP_SECRET", "STORPORT_CHAP_TARGET_USER",
      "STORPORT_CHAP_TARGET_SECRET",
    ].filter { env($0) != nil }
    if let file {
      // One source: a file beside variables would leave one of them silently ignored.
      if let name = environment.first {
        throw OptionError(
          "--chap-file", file, "credentials from the file or the environment, not both (\(name) is set)")
      }
      var st = stat()
      guard stat(file, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
        throw OptionError("--chap-file", file, "a regular file")
      }
      guard st.st_mode & 0o077 == 0 else {
        throw OptionError("--chap-file", file, "a file only its owner can read (chmod 600)")
      }
      guard let text = readAll(file) else { throw OptionError("--chap-file", file, "a readable file") }
      for (n, line) in lines(text).enumerated() {
        let content: Substring =
          line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        let words = content.split(whereSeparator: { $0 == " " || $0 == "\t" })
        if words.isEmpty { continue }
        guard words.count == 3, words[0] == "initiator" || words[0] == "target" else {
          throw OptionError(
            "--chap-file", file, "line \(n + 1): 'initiator USER SECRET' or 'target USER SECRET'")
        }
        let c = try credentials(String(words[1]), String(words[2]), where: "\(file) line \(n + 1)")
        let isInitiator = words[0] == "initiator"
        guard (isInitiator ? s.initiator : s.target) == nil else {
          throw OptionError("--chap-file", file, "line \(n + 1): one '\(words[0])' line (a second one)")
        }
        if isInitiator { s.initiator = c } else { s.target = c }
      }
      guard s.initiator != nil else {
        throw OptionError("--chap-file", file, "an 'initiator USER SECRET' line (CHAP would be off)")
      }
    }
    for (secret, user) in [
      ("STORPORT_CHAP_SECRET", "STORPORT_CHAP_USER"),
      ("STORPORT_CHAP_TARGET_SECRET", "STORPORT_CHAP_TARGET_USER"),
    ]
    where env(secret) != nil && env(user) == nil {
      throw OptionError(secret, nil, "\(user) set beside it (CHAP would be off)")
    }
    if s.initiator == nil, let user = env("STORPORT_CHAP_USER") {
      guard let secret = env("STORPORT_CHAP_SECRET") else {
        throw OptionError("STORPORT_CHAP_USER", user, "STORPORT_CHAP_SECRET set beside it")
      }
      s.initiator = try credentials(user, secret, where: "STORPORT_CHAP_SECRET")
    }
    if s.target == nil, let user = env("STORPORT_CHAP_TARGET_USER") {
      guard let secret = env("STORPORT_CHAP_TARGET_SECRET") else {
        throw OptionError("STORPORT_CHAP_TARGET_USER", user, "STORPORT_CHAP_TARGET_SECRET set beside it")
      }
      s.target = try credentials(user, secret, where: "STORPORT_CHAP_TARGET_SECRET")
    }
    if let t = s.target, let i = s.initiator, t.secret == i.secret {
      // RFC 7143 §12.1.3: a secret that authenticates initiators must not authenticate targets.
      throw OptionError(
        "CHAP secret", file ?? "STORPORT_CHAP_TARGET_SECRET", "a target secret other than the initiator's")
    }
    if s.target != nil && s.initiator == nil {
      throw OptionError(
        "--chap-file", file ?? "STORPORT_CHAP_TARGET_USER", "mutual CHAP needs initiator credentials too")
    }
    return s
  }

  private static func credentials(_ user: String, _ secret: String, where: String) throws(OptionError)
    -> ISCSIChapCredentials
  {
    guard !user.isEmpty, user.utf8.count <= 255 else {
      throw OptionError("CHAP user", `where`, "a name of 1…255 bytes")
    }
    // The secret is never repeated in the message.
    guard (12...255).contains(secret.utf8.count) else {
      throw OptionError(
        "CHAP secret", `where`, "a secret of 12…255 bytes (this one has \(secret.utf8.count))")
    }
    return ISCSIChapCredentials(user: user, secret: Array(secret.utf8))
  }

  private static func env(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }

  /// The file's lines, ended by LF, CRLF or CR (a CR is never part of a secret).
  private static func lines(_ text: String) -> [String] {
    var out: [String] = []
    var line = String.UnicodeScalarView()
    for u in text.unicodeScalars {
      if u == "\n" || u == "\r" {
        out.append(String(line))
        line = String.UnicodeScalarView()
      } else {
        line.append(u)
      }
    }
    out.append(String(line))
    return out
  }

  private static func readAll(_ path: String) -> String? {
    guard let f = fopen(path, "r") else { return nil }
    defer { fclose(f) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
      let n = fread(&chunk, 1, chunk.count, f)
      if n <= 0 { break }
      bytes += chunk[0..<n]
      if bytes.count > 1 << 20 { return nil }
    }
    return String(decoding: bytes, as: UTF8.self)
  }
}
