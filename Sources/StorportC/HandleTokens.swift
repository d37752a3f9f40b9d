import Storport

/// Opaque `PVOID` handles for a C miniport (StorPortInitializeWorker, StorPortInitializeTimer):
/// a tag and an index into a per-adapter table, never a pointer to a host object — a stale or
/// forged token finds nothing instead of something freed.
final class HandleTokens<Handle: Sendable>: @unchecked Sendable {
  private let tag: UInt
  private let table = Locked<[Handle]>([])

  /// - Parameter tag: the token range's base (distinct per kind, so a worker token is never a
  ///   timer's).
  init(tag: UInt) { self.tag = tag }

  /// A new token for `handle`.
  func add(_ handle: Handle) -> UInt {
    table.withLock { list in
      list.append(handle)
      return tag + UInt(list.count)
    }
  }

  /// The handle `token` names, or nil.
  func lookup(_ token: UnsafeMutableRawPointer?) -> Handle? {
    let t = UInt(bitPattern: token)
    guard t > tag, t - tag <= UInt(Int.max) else { return nil }
    return table.withLock { list in
      let i = Int(t - tag) - 1
      return i < list.count ? list[i] : nil
    }
  }
}
