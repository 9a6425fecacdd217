import ClubProtocol
import ClubRuntime
import Events
import Foundation
import JSON
import Logging
import Synchronization
import ZMQ

/// Answers one command request (the body frame) with the reply body. The handler applies
/// the request size limits (they differ by operation); the server only refuses what exceeds
/// the socket's message limit.
///
/// `sender` is the principal whose CurveZMQ key sent the request (`security.mode: curve`), nil
/// in open mode; the handler authorises the op and each submitted event for it.
public protocol CommandHandling: Sendable {
    func handle(request: [UInt8], sender: Principal?) async -> [UInt8]
    /// The reply to a request that can be answered at once without waiting for anything
    /// (a query of published state), or nil to go through ``handle(request:sender:)``. Runs on
    /// the command socket's thread, so it must be quick.
    func handleAtOnce(request: [UInt8], sender: Principal?) -> [UInt8]?
}

extension CommandHandling {
    public func handleAtOnce(request: [UInt8], sender: Principal?) -> [UInt8]? { nil }
}

/// Owns the ROUTER command socket on a dedicated thread, with a ZeroMQ context of its own.
///
/// Requests are handled concurrently as tasks; their replies come back through an inproc
/// PULL socket that the same thread polls, because only that thread may touch the ROUTER.
/// REQ clients and DEALER clients that send an empty delimiter frame are both served.
public final class CommandServer: @unchecked Sendable {
    // @unchecked: `router` and `replies` are used only by the server thread after `start()`;
    // `replySender` is guarded by `sendLock`; `stopRequested` by `lock`.
    /// The command socket's own context, so that its I/O thread can be scheduled apart.
    private let context: ZMQContext
    private let router: ZMQSocket
    private let replies: ZMQSocket
    private let replySender: ZMQSocket
    private let sendLock = NSLock()
    private let lock = NSLock()
    private var stopRequested = false
    private let finished = DispatchSemaphore(value: 0)
    private let handler: any CommandHandling
    private let curve: CurveServer?
    private let logger: Logger
    /// The endpoint actually bound.
    public let boundEndpoint: String

    private static let counter = Mutex(0)
    /// Where requests are handled: off the cooperative pool, which the pipeline keeps busy.
    private let executor = DispatchTaskExecutor(label: "clubd-commands")

    /// - Parameters:
    ///   - maxMessageBytes: the largest message libzmq takes at all (ZMQ_MAXMSGSIZE); a larger
    ///     one drops the connection.
    ///   - realtimePriority: serve under `SCHED_FIFO` at this priority — the server thread and
    ///     the I/O thread of the socket's own ZeroMQ context — so that answers do not wait
    ///     behind bulk work for a core, where the system allows it; nil keeps normal scheduling.
    ///   - curve: make the ROUTER a CurveZMQ server (`security.mode: curve`); `authenticator`
    ///     then receives the server's context to bind its ZAP handler in, before the bind.
    public init(
        endpoint: String, maxMessageBytes: Int, realtimePriority: Int32?, curve: CurveServer? = nil,
        authenticator: (ZMQContext) throws -> Void = { _ in }, handler: any CommandHandling, logger: Logger
    ) throws {
        context = ZMQContext(realtimePriority: realtimePriority)
        router = try ZMQSocket(context: context, type: .router)
        try router.set(.maxMessageSize, maxMessageBytes)
        try router.set(.linger, 500)
        if let curve {
            try authenticator(context)
            try router.makeCurveServer(secretKey: curve.secretKey, domain: "command")
        }
        self.curve = curve
        try router.bind(endpoint)
        boundEndpoint = router.lastEndpoint
        let name = "inproc://clubd-command-replies-\(Self.counter.withLock { $0 += 1; return $0 })"
        replies = try ZMQSocket(context: context, type: .pull)
        try replies.bind(name)
        replySender = try ZMQSocket(context: context, type: .push)
        try replySender.set(.sendHighWaterMark, 0)
        try replySender.connect(name)
        self.handler = handler
        self.logger = logger
    }

    /// The `SCHED_FIFO` priority the socket is served at: nil when not asked for or refused.
    public var realtimePriority: Int32? { context.realtimePriority }

    public func start() {
        let thread = Thread { [self] in run() }
        thread.name = "clubd-command"
        thread.start()
    }

    /// Stops serving after replies already queued are sent.
    public func stop() {
        lock.withLock { stopRequested = true }
        finished.wait()
        sendLock.withLock { replySender.close() }
    }

    private func run() {
        defer {
            replies.close()
            router.close()
            finished.signal()
        }
        if let realtimePriority { RealtimeScheduling.applyToCurrentThread(priority: realtimePriority) }
        var poller = ZMQPoller(reading: [router, replies])
        while !lock.withLock({ stopRequested }) {
            do {
                let ready = try poller.poll(timeoutMilliseconds: 100)
                if ready[1] {
                    while let reply = try replies.receiveMessage(wait: false) { _ = try router.send(frames: reply, wait: false) }
                }
                if ready[0] {
                    while let (frames, peer) = try router.receiveMessage(wait: false, peer: curve != nil) { accept(frames, peer: peer) }
                }
            } catch let error as ZMQError where error.contextTerminated {
                return
            } catch {
                logger.error("command socket failed", metadata: ["error": "\(error)"])
            }
        }
        // Flush replies that are ready.
        while let reply = try? replies.receiveMessage(wait: false) { _ = try? router.send(frames: reply, wait: false) }
    }

    /// Splits `[identity, (empty), body]` and answers asynchronously. Behind a relay (a standby
    /// instance's, or any ROUTER–DEALER broker) the envelope holds several identities: it is
    /// everything up to the empty delimiter, and goes back unchanged with the reply.
    private func accept(_ frames: [[UInt8]], peer: String?) {
        guard frames.count >= 2 else { return }
        let delimiter = frames.dropFirst().firstIndex(where: \.isEmpty)
        let envelope = delimiter.map { Array(frames[...$0]) } ?? [frames[0]]
        let body = Array(frames.dropFirst(envelope.count))
        var sender: Principal?
        if let curve {
            // Who the key is now: a device retired since the handshake is refused from now on.
            guard let peer, let principal = curve.principal(peer) else {
                let refusal = CommandError("forbidden", "the client's key is not registered (any more): retired or unknown")
                _ = try? router.send(frames: envelope + [refusal.reply], wait: false)
                return
            }
            sender = principal
        }
        if body.count == 1, let reply = handler.handleAtOnce(request: body[0], sender: sender) {
            _ = try? router.send(frames: envelope + [reply], wait: false)
            return
        }
        let handler = self.handler
        Task(executorPreference: executor) {
            let reply: [UInt8]
            if body.count != 1 {
                reply = CommandError("bad_request", "a request is one frame holding a JSON object").reply
            } else {
                reply = await handler.handle(request: body[0], sender: sender)
            }
            self.send(envelope + [reply])
        }
    }

    private func send(_ frames: [[UInt8]]) {
        sendLock.withLock { _ = try? replySender.send(frames: frames) }
    }
}

