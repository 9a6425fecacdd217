/// What became of an event offered to the log.
public enum AppendOutcome: Sendable, Equatable {
    case new
    /// Its id is in the log already.
    case duplicate
    /// Refused where the log decides it, in log order: a workout from an external system
    /// without the user's active connection (`no_consent`), or an event an
    /// ``AdmissionGate`` refuses (a post by a non-member: `forbidden`).
    case refused(RejectReason, String)
}

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
