import CStorportMiniport
import Storport

#if canImport(Glibc)
  import Glibc
#endif

/// Request completion and the DMA view of host memory, for a C miniport.
extension CMiniportExtension {
  // MARK: - Completion

  /// `StorPortNotification(RequestComplete, HwDeviceExtension, Srb)`. Of two completions of one
  /// submission, racing or not, exactly one is applied; the other reaches the port as a
  /// completion of a completed request (rule 72) — or, when the request has been submitted
  /// again since, is reported as one without touching the new submission.
  func complete(srb: UnsafeMutableRawPointer?) {
    guard let srb, let (request, submission, live) = srbPool?.request(ofSrb: srb) else {
      CHost.report(
        "StorPortNotification(RequestComplete) with Srb \(CHost.describe(srb)), which is not a request block the port gave this miniport"
      )
      return
    }
    if live && srbPool.claimCompletion(srb: srb, submission: submission) {
      srbPool.finish(srb: srb, request)
      port.requestComplete(request)
      return
    }
    if request.submissions == submission {
      port.requestComplete(request)  // the port's own rule 72
    } else {
      port.reportRequestCompletedTwice(
        "StorPortNotification(RequestComplete) of SRB \(CHost.describe(srb)) a second time, after its request was submitted again (the completion is dropped)"
      )
    }
  }

  // MARK: - DMA

  /// Bytes physically contiguous from `address` within memory the port gave out (identity
  /// mapping: to the end of that allocation, or of the request's data buffer).
  func contiguousLength(_ address: UnsafeMutableRawPointer?) -> UInt32 {
    guard let a = address else { return 0 }
    let bytes = allocations.withLock { all -> Int? in
      for (p, n) in all where a >= p && a < p + n { return n - (a - p) }
      return nil
    }
    return UInt32(clamping: bytes ?? 4096 - (Int(bitPattern: UInt(bitPattern: a)) & 4095))
  }
}
