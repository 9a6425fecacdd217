import ClubProtocol
import ClubRuntime
import Definitions
import Events
import Foundation
import Users
import ZMQ

/// Who may say what (`security.*`, docs/security.md): `open` — the embedded default, loopback
/// only, every client may send every client-side type — or `curve`: the ingest, command and
/// publish sockets are CurveZMQ servers and only registered keys are admitted.
public struct SecurityConfig: Sendable {
    public enum Mode: String, Sendable { case open, curve }

    /// A service or an admin of the configuration.
    public struct Client: Sendable, Equatable {
        public var name: String
        /// Z85, 40 characters.
        public var publicKey: String
        /// The event types a service may send (`<area>.*` and `*` allowed); admins send every type.
        public var events: [String] = []
        /// The ops a service may use besides `health` and `submit`.
        public var ops: [String] = []
    }

    public var mode = Mode.open
    /// Lets `open` mode bind a non-loopback endpoint (every client then speaks for every user).
    public var allowOpenNetwork = false
    /// The daemon's Z85 secret key; empty reads `$CREDENTIALS_DIRECTORY/server.key` (systemd's
    /// `LoadCredential=`).
    public var secretKeyFile = ""
    public var services: [Client] = []
    public var admins: [Client] = []

    public init() {}

    /// Reads `security:`, recording every mistake located in the file.
    static func parse(_ m: inout YAMLMapping) -> SecurityConfig {
        var s = SecurityConfig()
        if let text = m.string("mode", default: "open") {
            if let mode = Mode(rawValue: text) { s.mode = mode } else { m.fail("'mode' must be open or curve, not '\(text)'", at: m.node("mode")) }
        }
        s.allowOpenNetwork = m.bool("allow_open_network", default: false)
        s.secretKeyFile = m.string("secret_key_file", default: "") ?? ""
        var keys: [String: String] = [:]
        func client(_ c: inout YAMLMapping, service: Bool) -> Client? {
            let name = c.string("name", required: true) ?? ""
            if !name.isEmpty, let problem = EventDecoder.checkID(name, field: "name") { c.fail(problem.message, at: c.node("name")) }
            let key = c.string("public_key", required: true) ?? ""
            if let problem = CurveKeys.problem(with: key) {
                c.fail("'public_key': \(problem)", at: c.node("public_key"))
            } else if let holder = keys[key] {
                c.fail("'public_key' is \(holder)'s already: one key belongs to one principal", at: c.node("public_key"))
            }
            keys[key] = name
            var entry = Client(name: name, publicKey: key)
            if service {
                entry.events = c.names("events", expected: "event types, '<area>.*' or '*'", valid: { EventTypePatterns.problem(with: $0) == nil }) ?? []
                entry.ops = c.names("ops", expected: "ops (\(Op.allCases.map(\.rawValue).joined(separator: ", ")))", valid: { Op(rawValue: $0) != nil }) ?? []
            }
            return name.isEmpty ? nil : entry
        }
        for var c in m.mappings("services", element: "service (name, public_key, events, ops)") ?? [] {
            if let entry = client(&c, service: true) { s.services.append(entry) }
            m.absorb(c)
        }
        for var c in m.mappings("admins", element: "admin (name, public_key)") ?? [] {
            if let entry = client(&c, service: false) { s.admins.append(entry) }
            m.absorb(c)
        }
        let names = (s.services + s.admins).map(\.name)
        for name in Set(names) where names.filter({ $0 == name }).count > 1 {
            m.fail("the name '\(name)' is given to more than one service or admin")
        }
        return s
    }

    /// The principals of the configuration by their public keys.
    var configuredPrincipals: [String: Principal] {
        var principals: [String: Principal] = [:]
        for s in services { principals[s.publicKey] = .service(s.name, events: EventTypePatterns(s.events), ops: Set(s.ops)) }
        for a in admins { principals[a.publicKey] = .admin(a.name) }
        return principals
    }

    /// Where the secret key is read from.
    var secretKeyPath: String? {
        if !secretKeyFile.isEmpty { return secretKeyFile }
        return ProcessInfo.processInfo.environment["CREDENTIALS_DIRECTORY"].map { ($0 as NSString).appendingPathComponent("server.key") }
    }

    /// The daemon's secret key (whitespace around it ignored).
    /// - Throws: ``DefinitionErrors`` naming the file and what is wrong with it.
    public func secretKey() throws -> String {
        guard let path = secretKeyPath else {
            throw DefinitionErrors([
                DefinitionError(
                    file: "<configuration>", line: 1, column: 1,
                    message: "security.mode curve needs security.secret_key_file (or systemd's LoadCredential=server.key:…); make one with 'clubctl keygen'"),
            ])
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DefinitionErrors([DefinitionError(file: path, line: 1, column: 1, message: "cannot read the secret key file")])
        }
        let key = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if let problem = CurveKeys.problem(with: key) {
            throw DefinitionErrors([DefinitionError(file: path, line: 1, column: 1, message: "not a secret key: \(problem)")])
        }
        return key
    }

    /// Whether `endpoint` can be reached only from this host: loopback TCP, IPC or inproc.
    static func isLoopback(_ endpoint: String) -> Bool {
        if endpoint.hasPrefix("ipc://") || endpoint.hasPrefix("inproc://") { return true }
        guard endpoint.hasPrefix("tcp://") else { return false }
        var host = String(endpoint.dropFirst(6))
        if let colon = host.lastIndex(of: ":") { host = String(host[..<colon]) }
        // An interface name or "*" binds beyond loopback; "lo" is the loopback interface.
        return host.hasPrefix("127.") || host == "localhost" || host == "[::1]" || host == "lo"
    }
}

extension ClubConfig {
    /// Refuses what the security settings forbid of the endpoints: `open` mode on an endpoint
    /// reachable from the network, unless `security.allow_open_network` says so.
    /// - Throws: ``DefinitionErrors`` naming each endpoint.
    public func checkSecurity() throws {
        guard security.mode == .open, !security.allowOpenNetwork else { return }
        let endpoints = [("ingest.endpoint", ingestEndpoint), ("command.endpoint", commandEndpoint), ("publish.endpoint", publishEndpoint)]
            + publishChannelEndpoints.map { ("publish.channel", $0) }
        let open = endpoints.filter { !SecurityConfig.isLoopback($0.1) }
        guard !open.isEmpty else { return }
        throw DefinitionErrors(
            open.map {
                DefinitionError(
                    file: "<configuration>", line: 1, column: 1,
                    message: "\($0.0) \($0.1) is reachable beyond this host, but security.mode is open (anyone could speak for any user): "
                        + "use security.mode curve, bind to 127.0.0.1, or set security.allow_open_network: true")
            })
    }
}
