import ClubKernel

/// The users' consent to import from external systems (the contract's `connection`
/// events): which (user, system) connections are active now.
public struct Connections: Sendable, Equatable {
    private var active: Set<Key> = []

    struct Key: Hashable, Sendable {
        let user: String
        let system: String
    }

    public init() {}

    /// Sources that are the club's own devices, not external systems: no consent needed.
    public static let ownSources: Set<String> = ["device", "telemetry"]

    public mutating func set(user: String, system: String, active isActive: Bool) {
        let key = Key(user: user, system: system.lowercased())
        if isActive { active.insert(key) } else { active.remove(key) }
    }

    /// Whether a workout of `user` from `source` may be imported now.
    public func allows(user: String, source: String) -> Bool {
        Self.ownSources.contains(source) || active.contains(Key(user: user, system: source.lowercased()))
    }

    /// The log's refusal of `event` when it needs a connection the user does not have (both
    /// storage engines decide with it, in log order); nil when it may be appended.
    public func refusal(of event: ActivityEvent) -> AppendOutcome? {
        guard case .needs(let system) = event.consent, !allows(user: event.user, source: system) else { return nil }
        return .refused(
            .noConsent, "user '\(event.user)' has no active connection to '\(system)': a connection event with state 'active' must come first")
    }
}
