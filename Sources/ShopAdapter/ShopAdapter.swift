import ClubClient
import ClubProtocol
import Dispatch
import Foundation
import JSON
import Logging
import Synchronization
import ZMQ

/// The club's adapter to the shop (the mission: "the club reaches the shop's data through
/// adapters, so the shop's services need no change"). Two loops:
/// - **members**: reads the shop's member records page by page after its cursor, turns each into
///   `profile` and `connection` events (``MemberMapper``: opaque id and coarse fields only) and
///   submits them to clubd; the cursor moves once clubd acknowledged the page (durable there).
/// - **deliveries**: reads clubd's `ledger.changes` and `offers.changes` feeds after its
///   positions and POSTs each entry to the shop with an idempotency key, retrying with back-off
///   while the shop is down; a position moves once the shop acknowledged. A subscription to
///   `bonus.` and `offer.` only wakes the loop: the feeds are the source, so nothing published
///   while the adapter was down is lost.
public actor ShopAdapter {
    let config: ShopAdapterConfig
    let shop: ShopClient
    let state: AdapterState
    let logger: Logger
    private let club: ClubConnection
    private let wakeUps: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation
    /// Counts since start, for logs and tests: member records read, events submitted, entries delivered.
    public private(set) var counts = Counts()

    public struct Counts: Sendable, Equatable {
        public var members = 0
        public var skippedMembers = 0
        public var ledgerDelivered = 0
        public var offersDelivered = 0
        public var refused = 0
    }

    public init(config: ShopAdapterConfig, logger: Logger) throws {
        self.config = config
        self.logger = logger
        shop = try ShopClient(config: config, logger: logger)
        state = try AdapterState(path: config.statePath)
        club = try ClubConnection(config: config)
        (wakeUps, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Runs both loops until cancelled.
    public func run() async {
        let subscriber = try? WakeUpSubscriber(config: config, club: club, wake: wake)
        subscriber?.start()
        defer { subscriber?.stop() }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.loop("members", every: self.config.pollIntervalMillis) { try await self.syncMembers() } }
            group.addTask { await self.deliveries() }
        }
    }

    private func deliveries() async {
        var wakeUps = self.wakeUps.makeAsyncIterator()
        var delay = config.retryInitialMillis
        while !Task.isCancelled {
            do {
                try await deliverLedger()
                try await deliverOffers()
                delay = config.retryInitialMillis
                // Until a wake-up from the subscription or the interval, whichever comes first.
                let interval = config.deliveryIntervalMillis
                let timer = Task { try? await Task.sleep(for: .milliseconds(interval)); self.wake.yield() }
                _ = await wakeUps.next()
                timer.cancel()
            } catch is CancellationError {
                return
            } catch {
                logger.error("delivery failed; retrying", metadata: ["error": "\(error)", "in_ms": "\(delay)"])
                try? await Task.sleep(for: .milliseconds(delay))
                delay = min(delay * 2, config.retryMaxMillis)
            }
        }
    }

    /// Runs `body` every `interval` ms, retrying with back-off when it fails.
    private func loop(_ name: String, every interval: Int64, _ body: () async throws -> Void) async {
        var delay = config.retryInitialMillis
        while !Task.isCancelled {
            do {
                try await body()
                delay = config.retryInitialMillis
                try await Task.sleep(for: .milliseconds(interval))
            } catch is CancellationError {
                return
            } catch {
                logger.error("\(name) failed; retrying", metadata: ["error": "\(error)", "in_ms": "\(delay)"])
                try? await Task.sleep(for: .milliseconds(delay))
                delay = min(delay * 2, config.retryMaxMillis)
            }
        }
    }

    /// Reads every member record changed since the cursor and submits its events.
    public func syncMembers() async throws {
        var cursor = try state.position("members")
        while true {
            let page = try await shop.members(after: cursor)
            if page.members.isEmpty { return }
            var events: [JSONValue] = []
            for member in page.members {
                switch MemberMapper.events(of: member) {
                case .success(let mapped): events += mapped
                case .failure(let skipped):
                    counts.skippedMembers += 1
                    logger.warning("member record skipped", metadata: ["reason": "\(skipped.reason)"])
                }
            }
            counts.members += page.members.count
            for start in stride(from: 0, to: events.count, by: 500) {
                let reply = try await club.request(SubmitRequest(events: Array(events[start..<min(start + 500, events.count)])).bytes)
                guard reply["ok"] == .bool(true) else { throw AdapterError("clubd refused the submit: \(reply.serialized().asText)", retry: true) }
                for rejected in reply["rejected"]?.arrayValue ?? [] {
                    logger.warning("clubd refused a member event", metadata: ["rejection": "\(rejected.serialized().asText)"])
                }
            }
            guard let next = page.next, next != cursor else { return }
            try state.setPosition("members", next)
            cursor = next
        }
    }

    /// Delivers every ledger entry after the position.
    public func deliverLedger() async throws {
        var after = Int64(try state.position("ledger") ?? "0") ?? 0
        while true {
            let reply = try LedgerChangesReply(reply: try await club.request(LedgerChangesRequest(after: after, limit: 500).bytes))
            if reply.entries.isEmpty { return }
            for entry in reply.entries {
                var w = JSONWriter()
                entry.write(into: &w)
                try await deliver(w.bytes, to: config.ledgerPath, key: "ledger-\(entry.seq)")
                counts.ledgerDelivered += 1
                try state.setPosition("ledger", "\(entry.seq)")
                after = entry.seq
            }
        }
    }

    /// Delivers every offer issued after the position.
    public func deliverOffers() async throws {
        var after = Int64(try state.position("offers") ?? "0") ?? 0
        while true {
            let reply = try OfferChangesReply(reply: try await club.request(OfferChangesRequest(after: after, limit: 500).bytes))
            if reply.offers.isEmpty { return }
            for change in reply.offers {
                let code = change.offer.value["code"]?.stringValue ?? "\(change.feedSeq)"
                try await deliver([UInt8(ascii: "{")] + change.offer.members + [UInt8(ascii: "}")], to: config.offersPath, key: "offer-\(code)")
                counts.offersDelivered += 1
                try state.setPosition("offers", "\(change.feedSeq)")
                after = change.feedSeq
            }
        }
    }

    private func deliver(_ body: [UInt8], to path: String, key: String) async throws {
        if case .refused(let status) = try await shop.deliver(body, to: path, key: key) {
            counts.refused += 1
            try state.recordRefused(key: key, status: status)
            logger.error("the shop refused a delivery for good; recorded, moving on", metadata: ["key": "\(key)", "status": "\(status)"])
        }
    }
}

/// clubd's command socket, used from one serial queue (a `CommandClient` is not thread-safe
/// and blocks, so it stays off the cooperative pool).
final class ClubConnection: @unchecked Sendable {
    // @unchecked: `client` is used only on `queue`.
    private let queue = DispatchQueue(label: "shop-adapter-club")
    private let client: CommandClient
    let curve: CurveClientKeys?

    init(config: ShopAdapterConfig) throws {
        if config.clubServerKey.isEmpty {
            curve = nil
        } else {
            guard let data = FileManager.default.contents(atPath: config.clubKeyFile) else {
                throw AdapterError("cannot read club.key_file \(config.clubKeyFile)")
            }
            let secret = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard let keys = CurveClientKeys(serverKey: config.clubServerKey, secretKey: secret) else {
                throw AdapterError("club.server_key and club.key_file must each hold a 40-character Z85 key")
            }
            curve = keys
        }
        client = CommandClient(context: ZMQContext(), endpoint: config.clubCommand, timeout: 10_000, retries: 3, curve: curve)
    }

    func request(_ body: [UInt8]) async throws -> JSONValue {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try self.client.request(body) }) }
        }
    }
}

/// A SUB socket on `bonus.` and `offer.` whose messages wake the delivery loop.
final class WakeUpSubscriber: @unchecked Sendable {
    // @unchecked: `socket` is used only by the subscriber's thread; `stopped` is atomic.
    private let socket: ZMQSocket
    private let wake: AsyncStream<Void>.Continuation
    private let stopped = Atomic(false)
    private let finished = DispatchSemaphore(value: 0)

    init(config: ShopAdapterConfig, club: ClubConnection, wake: AsyncStream<Void>.Continuation) throws {
        socket = try ZMQSocket(context: ZMQContext(), type: .sub)
        try socket.set(.linger, 0)
        try socket.set(.receiveTimeout, 200)
        try club.curve?.apply(to: socket)
        try socket.subscribe("bonus.")
        try socket.subscribe("offer.")
        try socket.connect(config.clubPublish)
        self.wake = wake
    }

    func start() {
        Thread { [self] in
            defer { socket.close(); finished.signal() }
            while !stopped.load(ordering: .relaxed) {
                if (try? socket.receiveMessage(wait: true)) ?? nil != nil { wake.yield() }
            }
        }.start()
    }

    func stop() {
        stopped.store(true, ordering: .relaxed)
        finished.wait()
    }
}
