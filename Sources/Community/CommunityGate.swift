import ClubKernel

/// The community's admission gate: the log's writer asks it, event by event and in log order,
/// whether a client's community event may join the log (``AdmissionGate``). It runs the stage's
/// engine on a state that keeps no post texts.
public typealias CommunityGate = EngineGate<CommunityState>

extension EngineGate where State == CommunityState {
    public convenience init(config: CommunityConfig) {
        self.init(
            types: CommunityState.clientTypes, fresh: { CommunityState(keepsText: false) },
            apply: { state, event throws(Refusal) in _ = try state.apply(event, config: config) })
    }
}
