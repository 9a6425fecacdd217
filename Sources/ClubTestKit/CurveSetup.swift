import Foundation
import ZMQ

/// A daemon's CurveZMQ keys for a test (`security.mode: curve`): the server's, an admin's and
/// those of the services it was given.
public struct CurveSetup: Sendable {
    public let serverKey: String
    public let admin: CurveClientKeys
    public let services: [String: CurveClientKeys]
    /// The flags that make `clubd` read the configuration written for it.
    public let flags: [String]

    /// A fresh key pair for this server: a stranger's, or a device's to register.
    public func newClient() throws -> CurveClientKeys {
        let (publicKey, secretKey) = try CurveKeys.generate()
        return CurveClientKeys(serverKey: serverKey, publicKey: publicKey, secretKey: secretKey)
    }
}

extension DaemonProcess {
    /// Writes a server key and a configuration with `security.mode: curve`, an admin `ops` and
    /// `services` (name, allowed events, allowed ops), plus `extra` YAML; this object's sockets
    /// then authenticate as the admin unless told otherwise.
    public func enableCurve(services: [(name: String, events: [String], ops: [String])] = [], extra: String = "") throws -> CurveSetup {
        let server = try CurveKeys.generate()
        let keyFile = directory.appendingPathComponent("server.key")
        try (server.secretKey + "\n").write(to: keyFile, atomically: true, encoding: .utf8)
        func client() throws -> CurveClientKeys {
            let pair = try CurveKeys.generate()
            return CurveClientKeys(serverKey: server.publicKey, publicKey: pair.publicKey, secretKey: pair.secretKey)
        }
        let admin = try client()
        var keys: [String: CurveClientKeys] = [:]
        var yaml = """
            security:
              mode: curve
              secret_key_file: \(keyFile.path)
              admins:
                - {name: ops, public_key: "\(admin.publicKey)"}

            """
        if !services.isEmpty {
            yaml += "  services:\n"
            for service in services {
                let key = try client()
                keys[service.name] = key
                let events = service.events.map { "\"\($0)\"" }.joined(separator: ", ")
                let ops = service.ops.isEmpty ? "" : ", ops: [\(service.ops.joined(separator: ", "))]"
                yaml += "    - {name: \(service.name), public_key: \"\(key.publicKey)\", events: [\(events)]\(ops)}\n"
            }
        }
        yaml += extra
        let configFile = directory.appendingPathComponent("clubd.yaml")
        try yaml.write(to: configFile, atomically: true, encoding: .utf8)
        curve = admin
        return CurveSetup(serverKey: server.publicKey, admin: admin, services: keys, flags: ["--config", configFile.path])
    }
}
