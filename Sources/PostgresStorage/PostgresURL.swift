import Foundation

/// Where the PostgreSQL engine connects: `storage.postgres.url`, a libpq connection URI
/// (`postgresql://user:password@host:port/database?sslmode=disable`), the subset clubd reads.
///
/// - Host: a name or address (`[::1]` for IPv6); a `host=/run/postgresql` parameter or a host
///   that starts with `/` (percent-encoded) is the directory of the server's Unix socket.
/// - User: the URI's, else `$PGUSER`, else `$USER`; database: the URI's, else the user's name.
/// - `sslmode`: `disable`, `prefer` (libpq's default: TLS when the server offers it, its
///   certificate not verified), `require` (TLS, not verified), `verify-full` (TLS, certificate
///   and host name verified against the system's roots).
public struct PostgresURL: Sendable, Equatable {
    public enum TLSMode: String, Sendable, Equatable {
        case disable, prefer, require
        case verifyFull = "verify-full"
    }

    public var host: String
    public var port: Int
    /// The directory of the server's Unix socket, when it is reached through one.
    public var socketDirectory: String?
    public var user: String
    public var password: String?
    public var database: String
    public var tls: TLSMode

    /// The socket file in ``socketDirectory`` (`.s.PGSQL.<port>`, as libpq names it).
    public var socketPath: String? { socketDirectory.map { ($0 as NSString).appendingPathComponent(".s.PGSQL.\(port)") } }

    /// A URI's fault, in words a configuration error can show.
    public struct Invalid: Error, Equatable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    public init(_ text: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws(Invalid) {
        guard let components = URLComponents(string: text), let scheme = components.scheme else {
            throw Invalid("'\(text)' is not a URI such as postgresql://club@127.0.0.1:5432/club")
        }
        guard scheme == "postgresql" || scheme == "postgres" else {
            throw Invalid("scheme '\(scheme)' is not postgresql:// (or postgres://)")
        }
        var parameters: [String: String] = [:]
        for item in components.queryItems ?? [] {
            guard let value = item.value else { throw Invalid("parameter '\(item.name)' has no value") }
            parameters[item.name] = value
        }
        for name in parameters.keys where !["sslmode", "host", "port", "user", "password", "dbname", "application_name", "connect_timeout"].contains(name) {
            throw Invalid("unknown parameter '\(name)' (clubd reads sslmode, host, port, user, password, dbname)")
        }
        var host = components.percentEncodedHost.flatMap { $0.removingPercentEncoding } ?? ""
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if let h = parameters["host"] { host = h }
        if host.hasPrefix("/") {
            socketDirectory = host
            self.host = "localhost"
        } else {
            socketDirectory = nil
            self.host = host.isEmpty ? "localhost" : host
        }
        if let p = parameters["port"] {
            guard let value = Int(p), (1...65535).contains(value) else { throw Invalid("port '\(p)' is not 1…65535") }
            port = value
        } else if let p = components.port {
            guard (1...65535).contains(p) else { throw Invalid("port \(p) is not 1…65535") }
            port = p
        } else {
            port = 5432
        }
        let user = parameters["user"] ?? components.user?.removingPercentEncoding ?? environment["PGUSER"] ?? environment["USER"] ?? "postgres"
        guard !user.isEmpty else { throw Invalid("the user name is empty") }
        self.user = user
        password = parameters["password"] ?? components.password?.removingPercentEncoding
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        let database = parameters["dbname"] ?? (path.isEmpty ? user : (path.removingPercentEncoding ?? path))
        guard !database.contains("/") else { throw Invalid("database name '\(database)' contains '/'") }
        self.database = database
        if let mode = parameters["sslmode"] {
            guard let tls = TLSMode(rawValue: mode) else {
                throw Invalid("sslmode '\(mode)' is not one of disable, prefer, require, verify-full")
            }
            self.tls = tls
        } else {
            tls = .prefer
        }
    }

    /// The URI without its password, for logs and `health`.
    public var redacted: String {
        let place = socketDirectory.map { "[\($0)]" } ?? (host.contains(":") ? "[\(host)]" : host)
        return "postgresql://\(user)\(password == nil ? "" : ":***")@\(place):\(port)/\(database)?sslmode=\(tls.rawValue)"
    }
}
