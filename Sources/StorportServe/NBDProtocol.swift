/// The NBD protocol's numbers (the "newstyle fixed" negotiation and the transmission phase), as
/// the protocol document names them. All multi-byte fields are big-endian on the wire.
public enum NBD {
  public static let initMagic: UInt64 = 0x4E42_444D_4147_4943  // "NBDMAGIC"
  public static let optionMagic: UInt64 = 0x4948_4156_454F_5054  // "IHAVEOPT"
  public static let optionReplyMagic: UInt64 = 0x0003_E889_0455_65A9
  public static let requestMagic: UInt32 = 0x2560_9513
  public static let simpleReplyMagic: UInt32 = 0x6744_6698
  public static let structuredReplyMagic: UInt32 = 0x668E_33EF
  /// Structured reply chunks: flags and types.
  public static let replyFlagDone: UInt16 = 1 << 0
  public static let replyTypeNone: UInt16 = 0
  public static let replyTypeOffsetData: UInt16 = 1
  public static let replyTypeError: UInt16 = (1 << 15) + 1

  // Handshake flags (server) and client flags.
  public static let flagFixedNewstyle: UInt16 = 1 << 0
  public static let flagNoZeroes: UInt16 = 1 << 1
  public static let clientFlagFixedNewstyle: UInt32 = 1 << 0
  public static let clientFlagNoZeroes: UInt32 = 1 << 1

  // Options.
  public static let optExportName: UInt32 = 1
  public static let optAbort: UInt32 = 2
  public static let optList: UInt32 = 3
  public static let optStartTLS: UInt32 = 5
  public static let optInfo: UInt32 = 6
  public static let optGo: UInt32 = 7
  public static let optStructuredReply: UInt32 = 8

  // Option replies.
  public static let repAck: UInt32 = 1
  public static let repServer: UInt32 = 2
  public static let repInfo: UInt32 = 3
  public static let repErrUnsup: UInt32 = 0x8000_0001
  public static let repErrPolicy: UInt32 = 0x8000_0002
  public static let repErrInvalid: UInt32 = 0x8000_0003
  public static let repErrUnknown: UInt32 = 0x8000_0006
  public static let repErrTooBig: UInt32 = 0x8000_0009

  // Information types (NBD_OPT_INFO / NBD_OPT_GO).
  public static let infoExport: UInt16 = 0
  public static let infoName: UInt16 = 1
  public static let infoDescription: UInt16 = 2
  public static let infoBlockSize: UInt16 = 3

  // Transmission flags.
  public static let transHasFlags: UInt16 = 1 << 0
  public static let transReadOnly: UInt16 = 1 << 1
  public static let transSendFlush: UInt16 = 1 << 2
  public static let transSendFUA: UInt16 = 1 << 3
  public static let transSendTrim: UInt16 = 1 << 5
  public static let transSendWriteZeroes: UInt16 = 1 << 6
  public static let transCanMultiConn: UInt16 = 1 << 8

  // Commands and their flags.
  public static let cmdRead: UInt16 = 0
  public static let cmdWrite: UInt16 = 1
  public static let cmdDisconnect: UInt16 = 2
  public static let cmdFlush: UInt16 = 3
  public static let cmdTrim: UInt16 = 4
  public static let cmdWriteZeroes: UInt16 = 6
  public static let cmdFlagFUA: UInt16 = 1 << 0
  public static let cmdFlagNoHole: UInt16 = 1 << 1

  // Errors (errno values on the wire).
  public static let eperm: UInt32 = 1
  public static let eio: UInt32 = 5
  public static let enomem: UInt32 = 12
  public static let einval: UInt32 = 22
  public static let enospc: UInt32 = 28
  public static let eoverflow: UInt32 = 75
  public static let enotsup: UInt32 = 95
  public static let eshutdown: UInt32 = 108

  /// The largest payload accepted in one request (32 MiB, the protocol's suggested maximum).
  public static let maximumPayload: UInt32 = 32 << 20
  /// The largest option data accepted during negotiation.
  public static let maximumOptionData: UInt32 = 64 << 10

  /// The errno name of an NBD error value, for an ERROR chunk's message.
  static func errorName(_ error: UInt32) -> String {
    switch error {
    case eperm: return "EPERM: the export is read-only"
    case eio: return "EIO: the adapter failed the request"
    case enomem: return "ENOMEM"
    case einval: return "EINVAL: unaligned, out of range or unknown request"
    case enospc: return "ENOSPC"
    case eoverflow: return "EOVERFLOW: longer than the largest payload"
    case enotsup: return "ENOTSUP"
    case eshutdown: return "ESHUTDOWN: the server is stopping"
    default: return "error \(error)"
    }
  }
}
