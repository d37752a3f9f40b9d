import ArgumentParser
import StorportWorkload

/// Runs `body`, turning an ``OptionError`` into ArgumentParser's validation error (one line,
/// exit status 2 through ``StorportCommand/exitStatus(for:)``).
func checked<T>(_ body: () throws -> T) throws -> T {
  do { return try body() } catch let e as OptionError { throw ValidationError(e.description) }
}
