import CStorportMiniport
import Testing

@Suite struct HeaderLayoutTests {
  @Test func placeholder() { #expect(Bool(true)) }
}
