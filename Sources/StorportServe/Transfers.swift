// Helpers for moving a transfer's data without copying it when it need not be.
extension Array {
  /// The first `n` elements: this array itself when it has no more (no copy — the common case
  /// of a transfer that matches its expected length), else a copy of them.
  func leading(_ n: Int) -> [Element] { count <= n ? self : Array(prefix(n)) }
}
