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
}
