/// Fixed-format sense data (SPC-5 §4.4.3, response code 70h): 18 bytes with the sense key in
/// byte 2, ADDITIONAL SENSE LENGTH 10, ASC in byte 12 and ASCQ in byte 13 — what the target
/// answers itself (a refused command, a UNIT ATTENTION) when the adapter is not asked.
enum FixedSense {
  static func bytes(_ key: UInt8, _ asc: UInt8, _ ascq: UInt8) -> [UInt8] {
    var s = [UInt8](repeating: 0, count: 18)
    s[0] = 0x70
    s[2] = key
    s[7] = 10
    s[12] = asc
    s[13] = ascq
    return s
  }
}
