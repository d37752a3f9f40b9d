import NIOCore

/// A command's Data-In: the bytes a read (or INQUIRY, MODE SENSE, REPORT LUNS…) brought back,
/// left where the miniport transferred them — the host buffer of the request (its SRB
/// `DataBuffer`) — until a front end copies them, once, into the wire buffer on its event
/// loop. No second copy, and no block of data allocated on one thread and freed on another
/// (glibc then takes the other thread's arena lock on every free).
///
/// A value: slices share the buffer; the buffer lives while any slice does. Read-only.
public struct DataIn: Sendable, Equatable, CustomStringConvertible {
  private let storage: DataBuffer?
  private let start: Int
  /// Bytes in this view.
  public let count: Int

  /// No bytes.
  public init() {
    storage = nil
    start = 0
    count = 0
  }

  /// `bytes`, copied into a buffer of their own (answers made by the target: REPORT LUNS,
  /// reservations).
  public init(_ bytes: [UInt8]) {
    self.init(DataBuffer(copying: bytes, alignment: 16), count: bytes.count)
  }

  /// The first `count` bytes of `buffer` (a request's data buffer, the transfer done).
  init(_ buffer: DataBuffer, count: Int) {
    precondition(
      count >= 0 && count <= buffer.count,
      "bug in swift-storport: \(count) bytes of a \(buffer.count)-byte buffer")
    storage = count == 0 ? nil : buffer
    start = 0
    self.count = count
  }

  private init(storage: DataBuffer?, start: Int, count: Int) {
    (self.storage, self.start, self.count) = (storage, start, count)
  }

  public var isEmpty: Bool { count == 0 }

  /// Bytes `offset..<offset + length` of this view (same buffer, no copy).
  public func slice(_ offset: Int, _ length: Int) -> DataIn {
    precondition(
      offset >= 0 && length >= 0 && offset + length <= count, "bug in swift-storport: slice out of range")
    return DataIn(storage: length == 0 ? nil : storage, start: start + offset, count: length)
  }

  /// The first `n` bytes (all of them when there are fewer).
  public func leading(_ n: Int) -> DataIn { count <= n ? self : slice(0, max(0, n)) }

  /// The bytes, lent for the call.
  public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
    guard let storage else { return try body(UnsafeRawBufferPointer(start: nil, count: 0)) }
    return try body(UnsafeRawBufferPointer(start: storage.pointer + start, count: count))
  }

  /// A copy of the bytes.
  public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }

  public var description: String { "\(count) bytes" }

  public static func == (a: DataIn, b: DataIn) -> Bool {
    a.count == b.count && a.withUnsafeBytes { x in b.withUnsafeBytes { y in x.elementsEqual(y) } }
  }
}

extension ByteBuffer {
  /// Appends `data`'s bytes (the one copy a read's data makes on its way to the wire).
  @discardableResult
  mutating func writeDataIn(_ data: DataIn) -> Int {
    data.withUnsafeBytes { writeBytes($0) }
  }
}
