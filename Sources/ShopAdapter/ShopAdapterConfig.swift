import Definitions
import Foundation

/// The shop adapter's settings (`config/shop-adapter.yaml` lists every key and its default).
public struct ShopAdapterConfig: Sendable, DefinitionFile {
    /// The shop's HTTP API.
    public var shopURL = "http://127.0.0.1:8080"
    /// `GET` members changed after a cursor: `?after=<cursor>&limit=<n>` → `{"members": […], "next": "<cursor>"}`.
    public var membersPath = "/club/members"
    /// `POST` one offer (JSON) with an `Idempotency-Key` header.
    public var offersPath = "/club/offers"
    /// `POST` one ledger entry (JSON) with an `Idempotency-Key` header.
    public var ledgerPath = "/club/ledger"
    /// A file holding a bearer token for the shop's API; empty sends none.
    public var tokenFile = ""
    /// How often members are read (and deliveries looked for without a wake-up).
    public var pollIntervalMillis: Int64 = 30_000
    public var deliveryIntervalMillis: Int64 = 1_000
    public var membersPageSize = 500
    /// A request to the shop gives up after this long (then it is retried).
    public var requestTimeoutMillis: Int64 = 10_000
    /// Retries back off from the first delay, doubling up to the last.
    public var retryInitialMillis: Int64 = 500
    public var retryMaxMillis: Int64 = 30_000

    /// clubd's command socket (profiles and consent are submitted there, feeds read there).
    public var clubCommand = "tcp://127.0.0.1:7002"
    /// clubd's publish socket: `offer.` and `bonus.` wake the delivery loop.
    public var clubPublish = "tcp://127.0.0.1:7003"
    /// CurveZMQ (clubd in `security.mode: curve`): the daemon's public key and this adapter's
    /// secret key file; both empty for open mode.
    public var clubServerKey = ""
    public var clubKeyFile = ""

    /// The adapter's own SQLite file: its positions in the members list and the two feeds.
    public var statePath = "./var/shop-adapter.sqlite"
    public var logLevel = "info"

    public init() {}

    public static let fileDescription = "shop adapter configuration"

    public static func parse(_ root: inout YAMLMapping) throws -> ShopAdapterConfig {
        var c = ShopAdapterConfig()
        if var m = root.nested("shop") {
            c.shopURL = m.string("url", default: c.shopURL) ?? c.shopURL
            if let url = URL(string: c.shopURL), ["http", "https"].contains(url.scheme ?? ""), url.host != nil {} else {
                m.fail("'url' must be an http:// or https:// URL such as http://shop.internal:8080", at: m.node("url"))
            }
            for (key, path) in [("members_path", \ShopAdapterConfig.membersPath), ("offers_path", \.offersPath), ("ledger_path", \.ledgerPath)] {
                let value = m.string(key, default: c[keyPath: path]) ?? c[keyPath: path]
                if !value.hasPrefix("/") { m.fail("'\(key)' must be a path starting with /", at: m.node(key)) }
                c[keyPath: path] = value
            }
            c.tokenFile = m.string("token_file", default: "") ?? ""
            c.pollIntervalMillis = m.duration("poll_interval", default: c.pollIntervalMillis, min: 100)
            c.deliveryIntervalMillis = m.duration("delivery_interval", default: c.deliveryIntervalMillis, min: 50)
            c.membersPageSize = m.int("page_size", default: c.membersPageSize, in: 1...10_000)
            c.requestTimeoutMillis = m.duration("timeout", default: c.requestTimeoutMillis, min: 100)
            c.retryInitialMillis = m.duration("retry_initial", default: c.retryInitialMillis, min: 10)
            c.retryMaxMillis = m.duration("retry_max", default: c.retryMaxMillis, min: 10)
            if c.retryMaxMillis < c.retryInitialMillis { m.fail("'retry_max' must not be below 'retry_initial'", at: m.node("retry_max")) }
            root.absorb(m)
        }
        if var m = root.nested("club") {
            c.clubCommand = m.string("command", default: c.clubCommand) ?? c.clubCommand
            c.clubPublish = m.string("publish", default: c.clubPublish) ?? c.clubPublish
            c.clubServerKey = m.string("server_key", default: "") ?? ""
            c.clubKeyFile = m.string("key_file", default: "") ?? ""
            if c.clubServerKey.isEmpty != c.clubKeyFile.isEmpty {
                m.fail("CurveZMQ needs both 'server_key' and 'key_file' (or neither, for clubd in open mode)")
            }
            root.absorb(m)
        }
        if var m = root.nested("state") {
            c.statePath = m.string("path", default: c.statePath) ?? c.statePath
            root.absorb(m)
        }
        if var m = root.nested("log") {
            c.logLevel = m.string("level", default: c.logLevel) ?? c.logLevel
            root.absorb(m)
        }
        root.rejectUnknownKeys()
        guard root.errors.isEmpty else { throw DefinitionErrors(root.errors) }
        return c
    }
}
