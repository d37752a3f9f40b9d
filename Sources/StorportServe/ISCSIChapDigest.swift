import COpenSSLCrypto

/// MD5 from the system's OpenSSL (libcrypto): CHAP_A=5, the algorithm every iSCSI initiator
/// speaks (RFC 7143 §12.1.3, RFC 1994).
enum ISCSIChapDigest {
  /// The 16-byte MD5 digest of `bytes`.
  static func md5(_ bytes: [UInt8]) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: 16)
    var length: UInt32 = 0
    let ok = bytes.withUnsafeBytes { input in
      out.withUnsafeMutableBufferPointer { o in
        EVP_Digest(input.baseAddress, input.count, o.baseAddress, &length, EVP_md5(), nil)
      }
    }
    precondition(ok == 1 && length == 16, "bug in swift-storport: libcrypto's MD5 failed")
    return out
  }
}
