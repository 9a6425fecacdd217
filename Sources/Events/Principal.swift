/// Who sent a message, in `security.mode: curve` (the contract's "Who may say what"): the
/// principal the client's CurveZMQ key belongs to. In `open` mode there is none, and every
/// client may send every client-side type.
public struct Principal: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// A user's device (`device.registered`): `telemetry` and `workout` for its own user.
        case device
        /// A service of the configuration: the event types and ops it lists, for any user.
        case service
        /// An administrator of the configuration: every op and every client-side type but
        /// `bonus.spent`.
        case admin
    }

    public let kind: Kind
    /// The device id, or the service's or admin's name.
    public let name: String
    /// The device's user (devices only).
    public let user: String?
    /// What a service may send: exact types, `<area>.*` or `*`.
    public let events: EventTypePatterns
    /// The ops a service may use besides `health` and `submit`.
    public let ops: Set<String>

    public static func device(_ id: String, user: String) -> Principal {
        Principal(kind: .device, name: id, user: user, events: deviceEvents, ops: [])
    }

    /// What every device may send (for its own user).
    private static let deviceEvents = EventTypePatterns(["telemetry", "workout"])
    private static let everything = EventTypePatterns(["*"])

    public static func service(_ name: String, events: EventTypePatterns, ops: Set<String>) -> Principal {
        Principal(kind: .service, name: name, user: nil, events: events, ops: ops)
    }

    public static func admin(_ name: String) -> Principal {
        Principal(kind: .admin, name: name, user: nil, events: everything, ops: [])
    }

    /// `device:<id>`, `service:<name>` or `admin:<name>`: how logs and the activity log name it.
    public var description: String { "\(kind.rawValue):\(name)" }

    /// Why this principal may not assert an event of `type` for `user`, or nil when it may.
    public func refusal(type: String, user: String) -> String? {
        switch kind {
        case .device:
            guard events.matches(type) else {
                return "device '\(name)' may send telemetry and workout events only, not '\(type.prefix(64))'"
            }
            guard user == self.user else { return "device '\(name)' may send events for its own user only" }
            return nil
        case .service:
            return events.matches(type) ? nil : "service '\(name)' may not send '\(type.prefix(64))' events (security.services)"
        case .admin:
            // Points are the shop's money: only a service allowed it (the shop adapter) spends them.
            return type == Self.spendType ? "'\(Self.spendType)' comes only from a service allowed it (the shop adapter), not from admin '\(name)'" : nil
        }
    }

    /// The purchase paid with points, which only a service listing it may send.
    public static let spendType = "bonus.spent"

    /// Whether this principal may use `op` (`health` for everyone, `submit` for every principal,
    /// which then decides each event; a service its `ops`; an admin everything).
    public func mayUse(op: String) -> Bool {
        switch kind {
        case .admin: true
        case .device: op == "health" || op == "submit"
        case .service: op == "health" || op == "submit" || ops.contains(op)
        }
    }

    /// Whether this principal may subscribe to the publish socket (services and admins).
    public var maySubscribe: Bool { kind != .device }
}

/// Event types as a service's configuration lists them: exact names, `<area>.*` for an area
/// (`group.*` matches `group.created`, not `group`) or `*` for every type.
public struct EventTypePatterns: Sendable, Hashable {
    public private(set) var exact: Set<String> = []
    /// The areas of `<area>.*` patterns with their dot (`group.`): a type of the area starts with one.
    public private(set) var areas: Set<String> = []
    public private(set) var all = false

    public init(_ patterns: [String]) {
        for pattern in patterns {
            if pattern == "*" {
                all = true
            } else if pattern.hasSuffix(".*") {
                areas.insert(String(pattern.dropLast()))
            } else {
                exact.insert(pattern)
            }
        }
    }

    /// Why `pattern` is no pattern, for a located error; nil when it is one.
    public static func problem(with pattern: String) -> String? {
        if pattern == "*" { return nil }
        let name = pattern.hasSuffix(".*") ? String(pattern.dropLast(2)) : pattern
        let valid = !name.isEmpty && name.count <= 64 && name.utf8.allSatisfy { c in
            (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c == 95 || c == 46  // a-z 0-9 _ .
        }
        return valid ? nil : "'\(pattern)' is not an event type, '<area>.*' or '*'"
    }

    public func matches(_ type: String) -> Bool {
        if all || exact.contains(type) { return true }
        return areas.contains { type.count > $0.count && type.hasPrefix($0) }
    }
}
