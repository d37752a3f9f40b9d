/// A value the user gave that cannot be used — on the command line or in a configuration —
/// naming the option, the value as given and what is accepted. Front ends report it as one
/// line and exit with status 2 before any work starts; nothing has been touched by then.
public struct OptionError: Error, Equatable, Sendable, CustomStringConvertible {
  /// The option as the user spells it, e.g. `--bs`.
  public let option: String
  /// The value as given (nil for a flag, or a combination of options).
  public let value: String?
  /// What is accepted instead, or why this value cannot be used here.
  public let accepted: String

  public init(_ option: String, _ value: String?, _ accepted: String) {
    self.option = option
    self.value = value
    self.accepted = accepted
  }

  /// This error quoting its value as the user typed it, when `typed` (option → text as given)
  /// has the option: a value found out of range after parsing is quoted in the user's own words
  /// (`--size 4k` as '4k', not '4096'). A combination error (no value) is returned unchanged.
  public func quoting(_ typed: [String: String]) -> OptionError {
    guard value != nil, let text = typed[option] else { return self }
    return OptionError(option, text, accepted)
  }

  /// One line: `invalid --bs '4.5k': a whole number of bytes …`.
  public var description: String {
    value.map { "invalid \(option) '\($0)': \(accepted)" } ?? "\(option): \(accepted)"
  }
}
