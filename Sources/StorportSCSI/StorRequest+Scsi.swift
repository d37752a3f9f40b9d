import Storport

extension StorRequest {
  /// The CDB as a ``Cdb`` (inline copy, no allocation).
  public var cdb: Cdb { Cdb(words: cdbBytes, count: Int(cdbLength)) }

  /// Stores a SCSI result the way a miniport fills an SRB: SRB status (SUCCESS, or ERROR with
  /// autosense), SCSI status, sense bytes in the LU's format, residual and the transferred
  /// length (`DataTransferLength` on return).
  public func apply(_ r: ScsiResult, descriptorSense: Bool = false) {
    scsiStatus = r.status.rawValue
    let transferred = min(r.transferred, Int(dataTransferLength))
    residual = Int(dataTransferLength) - transferred + r.overflow
    if r.status == .good || r.status == .conditionMet {
      srbStatus =
        transferred < Int(dataTransferLength) && r.overflow == 0 && direction == .dataIn
        ? .dataOverrunOrUnderrun : .success
      dataTransferLength = UInt32(transferred)
      senseLength = 0
    } else {
      srbStatus = .error
      dataTransferLength = UInt32(transferred)
      if let sense = r.sense {
        senseLength = withUnsafeMutableBytes(of: &senseBytes) { raw in
          UInt8(min(32, sense.encode(descriptorFormat: descriptorSense, into: raw)))
        }
      }
    }
  }

  /// The decoded sense, if any.
  public var senseData: SenseData? { senseLength == 0 ? nil : SenseData.decode(sense) }
}
