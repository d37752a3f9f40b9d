import Synchronization

/// A bounded sample of latencies (ns).
struct LatencySamples {
  var values: [UInt64] = []
  let limit = 200_000
  mutating func add(_ v: UInt64) { if values.count < limit { values.append(v) } }
}
