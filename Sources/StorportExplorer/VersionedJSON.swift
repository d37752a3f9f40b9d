import Foundation

/// The explorer's files — schedule files, results — are JSON objects with `format` and
/// `version` fields and snake_case keys. Reading one checks format and version first, so a
/// newer or foreign file is refused for what it is rather than for a missing field.
enum VersionedJSON {
  struct Header: Decodable {
    let format: String
    let version: Int
  }

  static func read<T: Decodable>(
    _ type: T.Type, path: String, format: String, version: Int, what: String
  ) throws(ScheduleFileError) -> T {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw ScheduleFileError("cannot read \(path)")
    }
    let decoder = JSONDecoder()
    decoder.keyDecodingStrategy = .convertFromSnakeCase
    let header: Header
    do { header = try decoder.decode(Header.self, from: data) } catch {
      throw ScheduleFileError("\(path) is not a \(what): \(ScheduleFile.describe(error))")
    }
    guard header.format == format else {
      throw ScheduleFileError("\(path) is not a \(what) (format \"\(header.format)\")")
    }
    guard header.version == version else {
      throw ScheduleFileError(
        "\(path) is \(what) version \(header.version); this storport reads version \(version)")
    }
    do { return try decoder.decode(T.self, from: data) } catch {
      throw ScheduleFileError("\(path) is not a \(what): \(ScheduleFile.describe(error))")
    }
  }
}
