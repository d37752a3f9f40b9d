import Storport
import StorportSamples
import Testing

@Suite struct SmokeTests {
  @Test func adapterStartsAndTimerFires() {
    let fired = Observations<UInt64>()
    let h = SimHarness()
    let timer = HwTimer<ScriptedExtension>("T") { ext in fired.append(ext.port.executionContext!.time) }
    h.miniport.onInitialize = { ext in
      ext.port.requestTimerCall(timer, microseconds: 1000)
      return true
    }
    #expect(h.startAdapter() == .running)
    h.run(ms: 5)
    #expect(fired.count == 1)
    #expect(fired.all[0] >= 1_000_000)
  }
}
