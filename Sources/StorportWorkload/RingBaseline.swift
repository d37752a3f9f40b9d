import CStorportShim

#if canImport(Glibc)
  import Glibc
#endif

/// The raw baseline of `storport bench io`: two threads exchanging requests over two
/// single-producer rings at the same queue depth — a submitter that keeps `depth` slots in
/// flight and a "device" thread that completes them — with nothing of the port in between.
public enum RingBaseline {
  /// Round trips per second over `milliseconds`.
  public static func run(depth: Int, milliseconds: UInt64) -> Double {
    let capacity = 1024
    let words = storport_words_alloc(6)
    defer { storport_words_free(words) }
    let subHead = storport_word(words, 0)
    let subTail = storport_word(words, 1)
    let cmpHead = storport_word(words, 2)
    let cmpTail = storport_word(words, 3)
    let stop = storport_word(words, 4)
    let sub = UnsafeMutablePointer<UInt32>.allocate(capacity: capacity)
    let cmp = UnsafeMutablePointer<UInt32>.allocate(capacity: capacity)
    defer {
      sub.deallocate()
      cmp.deallocate()
    }
    final class Box: @unchecked Sendable {
      let body: () -> Void
      init(_ b: @escaping () -> Void) { body = b }
    }
    let addresses = [subHead, subTail, cmpHead, cmpTail, stop].map { UInt(bitPattern: $0) }
    let subAddress = UInt(bitPattern: sub)
    let cmpAddress = UInt(bitPattern: cmp)
    // Device thread: take from `sub`, put into `cmp`.
    let device = Box {
      let w = addresses.map { UnsafeMutablePointer<UInt32>(bitPattern: $0)! }
      let s = UnsafeMutablePointer<UInt32>(bitPattern: subAddress)!
      let c = UnsafeMutablePointer<UInt32>(bitPattern: cmpAddress)!
      var head = storport_load_relaxed(w[0])
      var ctail = storport_load_relaxed(w[3])
      while storport_load_acquire(w[4]) == 0 {
        let tail = storport_load_acquire(w[1])
        if head == tail {
          storport_cpu_relax()
          continue
        }
        while head != tail {
          c[Int(ctail % UInt32(capacity))] = s[Int(head % UInt32(capacity))]
          head &+= 1
          ctail &+= 1
        }
        storport_store_release(w[0], head)
        storport_store_release(w[3], ctail)
      }
    }
    var thread = pthread_t()
    pthread_create(
      &thread, nil,
      { raw in
        Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue().body()
        return nil
      }, Unmanaged.passRetained(device).toOpaque())
    // Submitter (this thread).
    var tail: UInt32 = 0
    var chead: UInt32 = 0
    var inFlight = 0
    var completed: UInt64 = 0
    let end = storport_monotonic_ns() + milliseconds * 1_000_000
    var checks = 0
    while true {
      while inFlight < depth {
        sub[Int(tail % UInt32(capacity))] = tail
        tail &+= 1
        inFlight += 1
      }
      storport_store_release(subTail, tail)
      let ctail = storport_load_acquire(cmpTail)
      if ctail != chead {
        let n = Int(ctail &- chead)
        chead = ctail
        storport_store_release(cmpHead, chead)
        inFlight -= n
        completed += UInt64(n)
      } else {
        storport_cpu_relax()
      }
      checks += 1
      if checks & 255 == 0 && storport_monotonic_ns() >= end { break }
    }
    storport_store_release(stop, 1)
    pthread_join(thread, nil)
    return Double(completed) / (Double(milliseconds) / 1000)
  }
}
