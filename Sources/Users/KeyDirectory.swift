import Events

/// Who each CurveZMQ public key is (`security.mode: curve`): the services and admins of the
/// configuration, and the devices as the log has them (``DevicesGate``), so that a device key
/// takes effect, and a retired one stops, with the event that says so — nothing restarts.
/// Consulted by the ZAP handler at each handshake and by the sockets for each message.
public final class KeyDirectory: Sendable {
    /// Why a key is not admitted: the `reason` label of `clubd_auth_refused_total`.
    public enum Refusal: String, Error, Sendable, CaseIterable {
        /// No principal has the key.
        case unknownKey = "unknown_key"
        /// The key's device is retired, or the device has another key now.
        case retiredKey = "retired_key"
        /// A device key on the publish socket: subscribers need a service or admin key.
        case notSubscriber = "not_subscriber"
        /// The client did not authenticate with CURVE.
        case wrongMechanism = "wrong_mechanism"
    }

    private let configured: [String: Principal]
    private let devices: DevicesGate

    /// - Parameter configured: the services' and admins' principals by their public keys.
    public init(configured: [String: Principal], devices: DevicesGate) {
        self.configured = configured
        self.devices = devices
    }

    /// The principal `key` belongs to now, or nil when none does (any more).
    public func principal(forKey key: String) -> Principal? {
        if let principal = configured[key] { return principal }
        return devices.read { devices in
            guard let device = devices.device(withKey: key), !device.retired, device.publicKey == key else { return nil }
            return Principal.device(device.id, user: device.user)
        }
    }

    /// Whether `key` may connect, to the publish socket when `subscribing`.
    public func admission(key: String, subscribing: Bool) -> Result<Principal, Refusal> {
        guard let principal = principal(forKey: key) else {
            let known = devices.read { $0.device(withKey: key) != nil }
            return .failure(known ? .retiredKey : .unknownKey)
        }
        if subscribing && !principal.maySubscribe { return .failure(.notSubscriber) }
        return .success(principal)
    }
}
