/// The version of swift-storport, printed by `storport --version` and recorded in JSON
/// results, traces and explorer schedule files.
public enum StorportVersion {
  public static let string = "0.5.0"
}
