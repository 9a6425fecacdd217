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

    public init(config: ShopAdapterConfig, logger: Logger) throws {
        self.config = config
        self.logger = logger
        shop = try ShopClient(config: config)
        state = try AdapterState(path: config.statePath)
        club = try ClubConnection(config: config)
        (wakeUps, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Runs both loops until cancelled: members every `shop.poll_interval`; deliveries on each
    /// wake-up from the subscription, or every `shop.delivery_interval` without one.
    public func run() async {
        let subscriber = try? WakeUpSubscriber(config: config, club: club, wake: wake)
        subscriber?.start()
        defer { subscriber?.stop() }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await self.loop("members", { try await self.syncMembers() }, then: { try await Task.sleep(for: .milliseconds(self.config.pollIntervalMillis)) })
            }
            group.addTask {
                var wakeUps = self.wakeUps.makeAsyncIterator()
                let interval = self.config.deliveryIntervalMillis
                await self.loop("delivery", { try await self.deliverLedger(); try await self.deliverOffers() }, then: {
                    let timer = Task { try? await Task.sleep(for: .milliseconds(interval)); self.wake.yield() }
                    _ = await wakeUps.next()
                    timer.cancel()
                })
            }
        }
    }

    /// Runs `body`, then `pause`, until cancelled; a failing `body` is retried with back-off.
    private func loop(_ name: String, _ body: () async throws -> Void, then pause: () async throws -> Void) async {
        var delay = config.retryInitialMillis
        while !Task.isCancelled {
            do {
                try await body()
                delay = config.retryInitialMillis
                try await pause()
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
                    logger.warning("member record skipped", metadata: ["reason": "\(skipped.reason)"])
                }
            }
            for start in stride(from: 0, to: events.count, by: 500) {
                let reply = try await club.request(SubmitRequest(events: Array(events[start..<min(start + 500, events.count)])).bytes)
                guard reply["ok"] == .bool(true) else { throw AdapterError("clubd refused the submit: \(reply.jsonText)") }
                for rejected in reply["rejected"]?.arrayValue ?? [] {
                    logger.warning("clubd refused a member event", metadata: ["rejection": "\(rejected.jsonText)"])
                }
            }
            guard let next = page.next, next != cursor else { return }
            try state.setPosition("members", next)
            cursor = next
        }
    }

    /// Delivers every ledger entry after the position.
    public func deliverLedger() async throws {
        try await deliverFeed("ledger", to: config.ledgerPath) { after in
            try LedgerChangesReply(reply: try await self.club.request(LedgerChangesRequest(after: after, limit: 500).bytes)).entries.map {
                var w = JSONWriter()
                $0.write(into: &w)
                return (seq: $0.seq, key: "ledger-\($0.seq)", body: w.bytes)
            }
        }
    }

    /// Delivers every offer issued after the position.
    public func deliverOffers() async throws {
        try await deliverFeed("offers", to: config.offersPath) { after in
            try OfferChangesReply(reply: try await self.club.request(OfferChangesRequest(after: after, limit: 500).bytes)).offers.map {
                let code = $0.offer.value["code"]?.stringValue ?? "\($0.feedSeq)"
                return (seq: $0.feedSeq, key: "offer-\(code)", body: [UInt8(ascii: "{")] + $0.offer.members + [UInt8(ascii: "}")])
            }
        }
    }

    /// Delivers one of clubd's feeds from the adapter's position `name` on, page by page (`fetch`
    /// gives the changes after a position), moving the position after each delivery. A delivery
    /// the shop refuses for good is recorded and passed.
    private func deliverFeed(
        _ name: String, to path: String, fetch: (Int64) async throws -> [(seq: Int64, key: String, body: [UInt8])]
    ) async throws {
        var after = Int64(try state.position(name) ?? "0") ?? 0
        while true {
            let changes = try await fetch(after)
            if changes.isEmpty { return }
            for change in changes {
                if case .refused(let status) = try await shop.deliver(change.body, to: path, key: change.key) {
                    try state.recordRefused(key: change.key, status: status)
                    logger.error("the shop refused a delivery for good; recorded, moving on", metadata: ["key": "\(change.key)", "status": "\(status)"])
                }
                try state.setPosition(name, "\(change.seq)")
                after = change.seq
            }
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
