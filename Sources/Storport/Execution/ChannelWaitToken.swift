/// Wait token for concurrent-channel tokens on the simulated platform.
final class ChannelWaitToken: Sendable {}
