import Events
import Foundation
import Logging
import Metrics
import Synchronization
import ZMQ

/// The ZeroMQ authentication handler (ZAP, RFC 27) of one context: a REP socket on
/// `inproc://zeromq.zap.01`, served by a thread of its own, that libzmq asks at every CURVE
/// handshake of the context's server sockets. It admits the keys `decide` admits and gives
/// the connection the client's public key (Z85) as its `User-Id`, which every message from it
/// then carries, so the receiver can ask who it is *now* (a retired key stops at once).
///
/// Refusals are counted by reason (`clubd_auth_refused_total{reason}`) and logged at most once
/// a second per key, so that a flood of bad handshakes cannot fill the log.
public final class ZAPHandler: @unchecked Sendable {
    // @unchecked: `socket` is used only by the handler's thread after `start()`; `stopRequested`
    // and `lastLogged` are behind their locks.
    /// Whether the client with public key `key` (Z85) may connect to the socket of `domain`:
    /// nil admits it, else the reason label.
    public typealias Decide = @Sendable (_ domain: String, _ key: String) -> String?

    private let socket: ZMQSocket
    private let decide: Decide
    private let logger: Logger
    private let stopRequested = Mutex(false)
    private let finished = DispatchSemaphore(value: 0)
    private let lastLogged = Mutex<[String: Int64]>([:])
    private let admitted = Counter(label: "clubd_auth_admitted_total")

    /// The endpoint libzmq sends its requests to.
    public static let endpoint = "inproc://zeromq.zap.01"

    /// Binds the handler in `context`; bind it before any CURVE server socket of the context,
    /// or libzmq lets every client in.
    public init(context: ZMQContext, logger: Logger, decide: @escaping Decide) throws {
        socket = try ZMQSocket(context: context, type: .rep)
        try socket.set(.linger, 0)
        try socket.set(.receiveTimeout, 100)
        try socket.bind(Self.endpoint)
        self.decide = decide
        self.logger = logger
    }

    public func start() {
        let thread = Thread { [self] in run() }
        thread.name = "clubd-zap"
        thread.start()
    }

    /// Stops answering; handshakes after this fail.
    public func stop() {
        stopRequested.withLock { $0 = true }
        finished.wait()
    }

    private func run() {
        defer {
            socket.close()
            finished.signal()
        }
        while !stopRequested.withLock({ $0 }) {
            do {
                guard let request = try socket.receiveMessage(wait: true) else { continue }
                try socket.send(frames: answer(request))
            } catch let error as ZMQError where error.contextTerminated {
                return
            } catch {
                logger.error("ZAP handler failed", metadata: ["error": "\(error)"])
            }
        }
    }

    /// The reply to one request: `[version, request id, status, text, user id, metadata]`.
    func answer(_ frames: [[UInt8]]) -> [[UInt8]] {
        // Request: version, request id, domain, address, routing id, mechanism, credentials…
        guard frames.count >= 6 else { return [] }
        let requestID = frames[1]
        func reply(_ status: String, _ text: String, user: String = "") -> [[UInt8]] {
            [Array("1.0".utf8), requestID, Array(status.utf8), Array(text.utf8), Array(user.utf8), []]
        }
        let domain = String(decoding: frames[2], as: UTF8.self)
        let address = String(decoding: frames[3], as: UTF8.self)
        let mechanism = String(decoding: frames[5], as: UTF8.self)
        guard mechanism == "CURVE", frames.count >= 7, let key = CurveKeys.z85(frames[6]) else {
            refused("wrong_mechanism", key: "mechanism:\(mechanism)", domain: domain, address: address)
            return reply("400", "CURVE required")
        }
        if let reason = decide(domain, key) {
            refused(reason, key: key, domain: domain, address: address)
            return reply("400", reason)
        }
        admitted.increment()
        return reply("200", "OK", user: key)
    }

    private func refused(_ reason: String, key: String, domain: String, address: String) {
        Counter(label: "clubd_auth_refused_total", dimensions: [("reason", reason)]).increment()
        let now = Clock.nowMillis()
        let log = lastLogged.withLock { last in
            if let previous = last[key], now - previous < 1_000 { return false }
            if last.count > 10_000 { last.removeAll(keepingCapacity: true) }  // bounded under a flood of keys
            last[key] = now
            return true
        }
        if log {
            logger.warning(
                "connection refused", metadata: ["reason": "\(reason)", "key": "\(key)", "socket": "\(domain)", "peer": "\(address)"])
        }
    }
}

/// A CurveZMQ server socket's settings: the daemon's secret key, and who each client key is.
public struct CurveServer: Sendable {
    /// The daemon's secret key, Z85.
    public var secretKey: String
    /// The principal a client's public key (Z85) belongs to now, or nil.
    public var principal: @Sendable (String) -> Principal?

    public init(secretKey: String, principal: @escaping @Sendable (String) -> Principal?) {
        self.secretKey = secretKey
        self.principal = principal
    }
}
