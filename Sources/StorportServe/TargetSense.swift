/// Sense data the target makes itself (a refused command, a UNIT ATTENTION) when the adapter is
/// not asked (SPC-5 §4.4): fixed format (response code 70h: 18 bytes, the sense key in byte 2,
/// ADDITIONAL SENSE LENGTH 10, ASC in byte 12 and ASCQ in byte 13) or descriptor format
/// (response code 72h: 8 bytes, the sense key in byte 1, ASC and ASCQ in bytes 2 and 3, no
/// descriptors).
enum TargetSense {
  static func bytes(_ key: UInt8, _ asc: UInt8, _ ascq: UInt8, descriptor: Bool = false) -> [UInt8] {
    if descriptor { return [0x72, key, asc, ascq, 0, 0, 0, 0] }
    var s = [UInt8](repeating: 0, count: 18)
    s[0] = 0x70
    s[2] = key
    s[7] = 10
    s[12] = asc
    s[13] = ascq
    return s
  }
}
