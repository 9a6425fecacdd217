import ClubKernel
import Synchronization

/// The community's admission gate: the log's writer asks it, event by event and in log
/// order, whether a client's community event may join the log (``AdmissionGate``). It keeps
/// the state its decisions need — the engine without post texts.
public final class CommunityGate: AdmissionGate {
    private let state: Mutex<CommunityState>
    private let config: CommunityConfig

    public init(config: CommunityConfig) {
        self.config = config
        state = Mutex(CommunityState(keepsText: false))
    }

    public func decides(_ type: String) -> Bool { CommunityState.clientTypes.contains(type) }

    public func admit(_ event: ActivityEvent) -> Refusal? {
        state.withLock { state in
            do throws(Refusal) {
                _ = try state.apply(event, config: config)
                return nil
            } catch {
                return error
            }
        }
    }

    public func reset() { state.withLock { $0 = CommunityState(keepsText: false) } }
}
