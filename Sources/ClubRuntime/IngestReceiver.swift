import ClubKernel
import Events
import Foundation
import Logging
import ZMQ

/// Owns the ingest PULL socket on a dedicated thread: blocks for the first frame, drains
/// the rest without waiting (up to `batchFrames` frames or `batchBytes` bytes), decodes the
/// batch and hands it to the pipeline's inbox as an `Item` (`batch(decoded, frames,
/// receivedAt)`) weighing the bytes received, so the inbox bounds what waits in bytes, not in
/// frames. Decoding here overlaps with the consumer loop's window work on the other core.
public final class IngestReceiver<Item: Sendable>: @unchecked Sendable {
    // @unchecked: `socket` is used only by the receiving thread after `start()`;
    // `stopRequested` is guarded by `lock`.
    public struct Options: Sendable {
        public var endpoint: String
        public var receiveHighWaterMark: Int
        public var maxMessageBytes: Int
        public var batchFrames: Int = 1024
        /// A batch ends once its frames hold this many bytes.
        public var batchBytes: Int = 1 << 20
        /// CurveZMQ (`security.mode: curve`): the socket is a CURVE server, and each message is
        /// decoded for the principal its key belongs to now; nil in open mode.
        public var curve: CurveServer?

        public init(endpoint: String, receiveHighWaterMark: Int, maxMessageBytes: Int, batchFrames: Int = 1024, curve: CurveServer? = nil) {
            self.curve = curve
            self.endpoint = endpoint
            self.receiveHighWaterMark = receiveHighWaterMark
            self.maxMessageBytes = maxMessageBytes
            self.batchFrames = batchFrames
        }
    }

    private let socket: ZMQSocket
    private let curve: CurveServer?
    /// The last key seen and its principal: a batch of frames mostly comes from one connection.
    private var lastPeer: (key: String, principal: Principal?)?
    private let inbox: Inbox<Item>
    private let batch: @Sendable (DecodedEvents, Int, Int64) -> Item
    private let decoder: EventDecoder
    private let batchFrames: Int
    private let batchBytes: Int
    private let lock = NSLock()
    private var stopRequested = false
    private let finished = DispatchSemaphore(value: 0)
    private let logger: Logger
    /// The endpoint actually bound (a wildcard port resolved).
    public let boundEndpoint: String

    /// Binds the socket; throws when the endpoint is taken or invalid.
    /// - Parameter batch: the inbox item for a decoded batch of `frames` frames received at a time.
    public init(
        context: ZMQContext, options: Options, decoder: EventDecoder, inbox: Inbox<Item>, logger: Logger,
        batch: @escaping @Sendable (DecodedEvents, Int, Int64) -> Item
    ) throws {
        socket = try ZMQSocket(context: context, type: .pull)
        try socket.set(.receiveHighWaterMark, options.receiveHighWaterMark)
        try socket.set(.maxMessageSize, options.maxMessageBytes)
        try socket.set(.receiveTimeout, 100)
        try socket.set(.linger, 0)
        if let curve = options.curve { try socket.makeCurveServer(secretKey: curve.secretKey, domain: "ingest") }
        curve = options.curve
        try socket.bind(options.endpoint)
        boundEndpoint = socket.lastEndpoint
        self.inbox = inbox
        self.batch = batch
        self.decoder = decoder
        self.batchFrames = options.batchFrames
        self.batchBytes = options.batchBytes
        self.logger = logger
    }

    public func start() {
        let thread = Thread { [self] in run() }
        thread.name = "clubd-ingest"
        thread.start()
    }

    /// Stops receiving and waits for the thread to close the socket. Frames already
    /// handed over are still processed; frames still queued in ZeroMQ are not taken.
    public func stop() {
        lock.withLock { stopRequested = true }
        finished.wait()
    }

    private var shouldStop: Bool { lock.withLock { stopRequested } }

    /// Receives one ingest message and decodes it straight from libzmq's buffer, stamped with
    /// `receivedAt` (set at the first message of a batch). A multipart message is consumed
    /// whole and refused: an event or a batch is one single frame.
    /// - Returns: false when no message is ready.
    private func receiveEvent(wait: Bool, receivedAt: inout Int64?, bytesReceived: inout Int, into decoded: inout DecodedEvents) throws -> Bool {
        let multipart = try socket.receiveFrame(wait: wait, peer: curve != nil) { bytes, more, peer in
            let now = receivedAt ?? Clock.nowMillis()
            receivedAt = now
            bytesReceived += bytes.count
            guard !more else { return more }
            guard let curve else {
                decoder.decode(frame: bytes, now: now, into: &decoded)
                return more
            }
            guard let principal = principal(of: peer, curve) else {
                decoded.rejections.append(
                    Rejection(.forbidden, "the sender's key is not registered (any more): retired or unknown", excerpt: Rejection.excerpt(of: bytes)))
                return more
            }
            decoder.decode(frame: bytes, now: now, sender: principal, into: &decoded)
            return more
        }
        guard let multipart else { return false }
        if multipart {
            var parts = 1
            var more = true
            while more, let rest = try socket.receiveFrame(wait: true) {
                more = rest.more
                parts += 1
            }
            decoded.rejections.append(
                Rejection(.multipartMessage, "a message of \(parts) frames: send each event or batch as one single frame"))
        }
        return true
    }

    /// Who the connection with ZAP user id `peer` (its public key) is now.
    private func principal(of peer: String?, _ curve: CurveServer) -> Principal? {
        guard let peer else { return nil }
        if let lastPeer, lastPeer.key == peer { return lastPeer.principal }
        let principal = curve.principal(peer)
        lastPeer = (peer, principal)
        return principal
    }

    private func run() {
        defer {
            socket.close()
            finished.signal()
        }
        #if os(Linux)
        // Decoding a flood is bulk work: let the command thread, which answers people,
        // be scheduled first when both want the CPU.
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 5)  // 0: this thread, on Linux
        #endif
        while !shouldStop {
            do {
                var decoded = DecodedEvents()
                var receivedAt: Int64?
                var bytes = 0
                guard try receiveEvent(wait: true, receivedAt: &receivedAt, bytesReceived: &bytes, into: &decoded) else { continue }
                var frames = 1
                while frames < batchFrames, bytes < batchBytes,
                    try receiveEvent(wait: false, receivedAt: &receivedAt, bytesReceived: &bytes, into: &decoded)
                {
                    frames += 1
                }
                lastPeer = nil  // a device retired meanwhile is refused from the next batch on
                if !inbox.put(batch(decoded, frames, receivedAt!), weight: bytes) { return }
            } catch let error as ZMQError where error.contextTerminated {
                return
            } catch {
                logger.error("ingest receive failed", metadata: ["error": "\(error)"])
            }
        }
    }
}
