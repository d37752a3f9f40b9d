import CStorportMiniport
import Storport

#if canImport(Glibc)
  import Glibc
#endif

/// Request completion and the DMA view of host memory, for a C miniport.
extension CMiniportExtension {
  // MARK: - Completion

  /// `StorPortNotification(RequestComplete, HwDeviceExtension, Srb)`. Of two completions of one
  /// submission, racing or not, exactly one is applied; the other is reported as a completion
  /// of a completed request (REQUEST_COMPLETED_TWICE, rule 72) and touches nothing.
  func complete(srb: UnsafeMutableRawPointer?) {
    guard let srb, let pool = srbPool, let (submission, live) = pool.state(ofSrb: srb) else {
      CHost.report(
        "StorPortNotification(RequestComplete) with Srb \(CHost.describe(srb)), which is not a request block the port gave this miniport"
      )
      return
    }
    if live, let request = pool.claimCompletion(srb: srb, submission: submission) {
      pool.finish(srb: srb, request)
      port.requestComplete(request)
      pool.release(request)
      return
    }
    port.reportRequestCompletedTwice(
      "StorPortNotification(RequestComplete) of SRB \(CHost.describe(srb)), whose request was already completed (rule 72, R-N1); the second completion is dropped"
    )
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
