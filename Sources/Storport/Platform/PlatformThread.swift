import CStorportShim

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#endif

/// A thread created with pthreads, running a closure. Used by the platforms only.
enum PlatformThread {
  private final class Box {
    let body: () -> Void
    init(_ body: @escaping () -> Void) { self.body = body }
  }

  /// Starts a detached-joinable thread; returns its handle for `join`.
  static func start(name: String, _ body: @escaping @Sendable () -> Void) -> pthread_t {
    let box = Unmanaged.passRetained(
      Box {
        name.withCString { storport_set_thread_name($0) }
        body()
      })
    var thread = pthread_t()
    let rc = pthread_create(
      &thread, nil,
      { raw in
        let box = Unmanaged<AnyObject>.fromOpaque(raw!).takeRetainedValue() as! Box
        box.body()
        return nil
      }, box.toOpaque())
    precondition(rc == 0, "pthread_create failed: \(rc)")
    return thread
  }

  static func join(_ thread: pthread_t) {
    pthread_join(thread, nil)
  }

  /// Joins `thread` if it ends within `nanoseconds`; otherwise detaches it and returns false.
  static func join(_ thread: pthread_t, within nanoseconds: UInt64) -> Bool {
    storport_join_within(thread, nanoseconds) != 1
  }
}
