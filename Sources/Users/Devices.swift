import ClubKernel
import Events

/// The users' devices (the contract's `device.registered` and `device.retired`): each device id
/// belongs to one user; a retired device's key is no longer valid. Pure; decided in log order.
public struct Devices: Sendable, Equatable {
    public struct Device: Sendable, Equatable {
        public var id: String
        public var user: String
        public var kind: String
        /// Z85, 40 characters, when the device authenticates with CurveZMQ.
        public var publicKey: String?
        /// Event time of the (last) registration.
        public var registeredAt: Int64
        public var retired: Bool
    }

    public private(set) var byID: [String: Device] = [:]
    private var byUser: [String: [String]] = [:]
    /// The device each public key authenticates (a retired device's key stays, to say why it is
    /// refused; a key re-registered elsewhere moves).
    private var byKey: [String: String] = [:]
    /// Keys of the configuration's services and admins: never a device's.
    private let reservedKeys: Set<String>

    public init(reservedKeys: Set<String> = []) { self.reservedKeys = reservedKeys }

    /// The device `publicKey` belongs to, retired or not.
    public func device(withKey publicKey: String) -> Device? { byKey[publicKey].flatMap { byID[$0] } }

    /// A user's devices in registration order.
    public func devices(of user: String) -> [Device] { (byUser[user] ?? []).compactMap { byID[$0] } }

    /// Applies a `device.*` event, or says why it cannot apply.
    public mutating func apply(_ event: ActivityEvent) throws(Refusal) {
        let b = event.body
        guard let id = b["device"]?.stringValue else { throw Refusal(.missingField, "missing required field 'device'") }
        switch event.type {
        case "device.registered":
            if let held = byID[id], held.user != event.user {
                throw Refusal(.conflict, "device '\(id)' belongs to another user")
            }
            let key = b["public_key"]?.stringValue
            if let key, reservedKeys.contains(key) { throw Refusal(.conflict, "the public key belongs to a service or an admin") }
            if let key, let holder = byKey[key].flatMap({ byID[$0] }), holder.id != id, !holder.retired {
                throw Refusal(.conflict, "the public key belongs to another device")
            }
            let known = byID[id] != nil
            // A new key replaces the device's old one at once (rotation of the same device id).
            if let old = byID[id]?.publicKey, old != key, byKey[old] == id { byKey[old] = nil }
            if let key { byKey[key] = id }
            byID[id] = Device(
                id: id, user: event.user, kind: b["kind"]?.stringValue ?? "other", publicKey: b["public_key"]?.stringValue,
                registeredAt: event.at, retired: false)
            if !known { byUser[event.user, default: []].append(id) }
        case "device.retired":
            guard let held = byID[id], held.user == event.user else {
                throw Refusal(.unknownDevice, "user '\(event.user)' has no device '\(id)'")
            }
            guard !held.retired else { throw Refusal(.conflict, "device '\(id)' is retired already") }
            byID[id]?.retired = true
        default:
            return
        }
    }
}

/// The admission gate of the User subsystem's devices: a device id held by another user is
/// refused in log order (`conflict`), and the `devices` op reads what it admitted — it is the
/// read model, always as far as the log.
public typealias DevicesGate = EngineGate<Devices>

extension EngineGate where State == Devices {
    /// - Parameter reservedKeys: the public keys of the configured services and admins.
    public convenience init(reservedKeys: Set<String> = []) {
        self.init(types: EventDecoder.deviceTypes, fresh: { Devices(reservedKeys: reservedKeys) }, apply: { devices, event throws(Refusal) in try devices.apply(event) })
    }

    /// A user's devices as the log has them.
    public func devices(of user: String) -> [Devices.Device] { read { $0.devices(of: user) } }
}
