import Synchronization

/// A check that decides, in log order, whether an event may join the activity log — for
/// refusals that depend on the events admitted before it (joining a group that was never
/// created, a post by someone who is not a member). The log's writer calls it inside its
/// transaction, one event after another, so its decisions follow the order of the log
/// exactly and a refused event never reaches a consumer (no bonus rule can reward it).
///
/// Its state is a function of the events it admitted: the store replays them to rebuild it
/// at start-up and after a transaction that did not commit.
public protocol AdmissionGate: AnyObject, Sendable {
    /// Whether the gate decides events of `type` (others join the log without it).
    func decides(_ type: String) -> Bool
    /// Admits `event` after everything admitted before it (changing the gate's state), or
    /// says why not.
    func admit(_ event: ActivityEvent) -> Refusal?
    /// Forgets everything admitted, before a replay.
    func reset()
}

/// Several gates, each deciding its own types (the community's, the devices').
public final class AdmissionGates: AdmissionGate {
    private let gates: [any AdmissionGate]

    public init(_ gates: [any AdmissionGate]) { self.gates = gates }

    public func decides(_ type: String) -> Bool { gates.contains { $0.decides(type) } }

    public func admit(_ event: ActivityEvent) -> Refusal? {
        gates.first { $0.decides(event.type) }?.admit(event)
    }

    public func reset() { gates.forEach { $0.reset() } }
}

/// The gate of a pure engine: its state behind a lock, `apply` deciding each event of `types`
/// in log order (a refusal leaves the state as it was, as the engines guarantee), `fresh` the
/// state before any event, for the store's replay.
public final class EngineGate<State: Sendable>: AdmissionGate {
    private let state: Mutex<State>
    private let types: Set<String>
    private let fresh: @Sendable () -> State
    private let apply: @Sendable (inout State, ActivityEvent) throws(Refusal) -> Void

    public init(
        types: Set<String>, fresh: @escaping @Sendable () -> State,
        apply: @escaping @Sendable (inout State, ActivityEvent) throws(Refusal) -> Void
    ) {
        self.types = types
        self.fresh = fresh
        self.apply = apply
        state = Mutex(fresh())
    }

    public func decides(_ type: String) -> Bool { types.contains(type) }

    public func admit(_ event: ActivityEvent) -> Refusal? {
        state.withLock { state in
            do throws(Refusal) {
                try apply(&state, event)
                return nil
            } catch {
                return error
            }
        }
    }

    public func reset() { state.withLock { $0 = fresh() } }

    /// Reads what the gate admitted, as far as the log.
    public func read<T>(_ body: (borrowing State) -> T) -> T { state.withLock { body($0) } }
}
