import CZMQ

/// A libzmq socket.
///
/// libzmq 4.3 sockets are not thread-safe: a socket must be used by one thread at a time,
/// and handing it to another thread needs a memory barrier. The club gives each socket to
/// one dedicated thread (or one serial executor) for its whole life.
public final class ZMQSocket: @unchecked Sendable {
    // @unchecked: the owner (one thread or one serial executor) is the only user, see above.
    let handle: UnsafeMutableRawPointer
    private var isClosed = false
    /// Kept alive while the socket lives: terminating a context waits for its sockets.
    private let context: ZMQContext

    /// Creates a socket of `type` in `context`.
    /// - Throws: ``ZMQError`` when the context is terminated or out of sockets.
    public init(context: ZMQContext, type: ZMQSocketType) throws {
        guard let handle = zmq_socket(context.handle, type.rawValue) else {
            throw ZMQError(call: "zmq_socket")
        }
        self.handle = handle
        self.context = context
    }

    deinit { close() }

    /// Closes the socket; pending outgoing messages live on for the linger period.
    public func close() {
        guard !isClosed else { return }
        isClosed = true
        zmq_close(handle)
    }

    /// Binds to `endpoint`, such as `tcp://127.0.0.1:7001` or `ipc:///run/clubd/ingest`.
    public func bind(_ endpoint: String) throws {
        guard zmq_bind(handle, endpoint) == 0 else { throw ZMQError(call: "zmq_bind(\(endpoint))") }
    }

    /// Connects to `endpoint`; the connection completes in the background.
    public func connect(_ endpoint: String) throws {
        guard zmq_connect(handle, endpoint) == 0 else { throw ZMQError(call: "zmq_connect(\(endpoint))") }
    }

    /// The endpoint the socket last bound to, with a wildcard port resolved.
    public var lastEndpoint: String {
        var buffer = [CChar](repeating: 0, count: 512)
        var size = buffer.count
        zmq_getsockopt(handle, ZMQ_LAST_ENDPOINT, &buffer, &size)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Sets an integer option.
    public func set(_ option: ZMQSocketOption, _ value: Int) throws {
        let rc: Int32
        if option.is64Bit {
            var v = Int64(value)
            rc = zmq_setsockopt(handle, option.rawValue, &v, MemoryLayout<Int64>.size)
        } else {
            var v = Int32(clamping: value)
            rc = zmq_setsockopt(handle, option.rawValue, &v, MemoryLayout<Int32>.size)
        }
        guard rc == 0 else { throw ZMQError(call: "zmq_setsockopt(\(option))") }
    }

    /// Sets a text option (`zmq_setsockopt` with the string's bytes, no terminator).
    private func set(_ option: Int32, text: String, name: String) throws {
        let bytes = Array(text.utf8)
        guard zmq_setsockopt(handle, option, bytes, bytes.count) == 0 else { throw ZMQError(call: "zmq_setsockopt(\(name))") }
    }

    /// Makes this socket a CurveZMQ server with `secretKey` (Z85): peers must handshake with
    /// CURVE and are then authenticated by the context's ZAP handler, if one is bound, under
    /// `domain`. Call before `bind`.
    public func makeCurveServer(secretKey: String, domain: String) throws {
        try set(.curveServer, 1)
        try set(ZMQ_CURVE_SECRETKEY, text: secretKey, name: "ZMQ_CURVE_SECRETKEY")
        try set(ZMQ_ZAP_DOMAIN, text: domain, name: "ZMQ_ZAP_DOMAIN")
    }

    /// Makes this socket a CurveZMQ client of the server whose public key is `serverKey`,
    /// authenticating with the key pair `publicKey`/`secretKey` (all Z85). Call before `connect`.
    public func makeCurveClient(serverKey: String, publicKey: String, secretKey: String) throws {
        try set(ZMQ_CURVE_SERVERKEY, text: serverKey, name: "ZMQ_CURVE_SERVERKEY")
        try set(ZMQ_CURVE_PUBLICKEY, text: publicKey, name: "ZMQ_CURVE_PUBLICKEY")
        try set(ZMQ_CURVE_SECRETKEY, text: secretKey, name: "ZMQ_CURVE_SECRETKEY")
    }

    /// Subscribes a SUB socket to messages whose first frame starts with `prefix`.
    public func subscribe(_ prefix: String) throws {
        let bytes = Array(prefix.utf8)
        guard zmq_setsockopt(handle, ZMQ_SUBSCRIBE, bytes, bytes.count) == 0 else {
            throw ZMQError(call: "zmq_setsockopt(ZMQ_SUBSCRIBE)")
        }
    }

    // MARK: Sending

    /// Sends one frame.
    /// - Parameters:
    ///   - more: more frames of the same message follow.
    ///   - wait: block while the queue is full; when false a full queue returns `false`.
    /// - Returns: `false` only when `wait` is false and the frame could not be queued.
    @discardableResult
    public func send(_ bytes: UnsafeRawBufferPointer, more: Bool = false, wait: Bool = true) throws -> Bool {
        var flags: Int32 = 0
        if more { flags |= ZMQ_SNDMORE }
        if !wait { flags |= ZMQ_DONTWAIT }
        while true {
            if zmq_send(handle, bytes.baseAddress, bytes.count, flags) >= 0 { return true }
            let error = ZMQError(call: "zmq_send")
            if error.interrupted { continue }
            if error.wouldBlock { return false }
            throw error
        }
    }

    /// Sends one frame of bytes.
    @discardableResult
    public func send(_ bytes: [UInt8], more: Bool = false, wait: Bool = true) throws -> Bool {
        try bytes.withUnsafeBytes { try send($0, more: more, wait: wait) }
    }

    /// Sends a multipart message. With `wait` false, `false` means nothing was sent.
    @discardableResult
    public func send(frames: [[UInt8]], wait: Bool = true) throws -> Bool {
        for (index, frame) in frames.enumerated() {
            // libzmq queues multipart messages atomically: only the first frame can block.
            let sent = try send(frame, more: index < frames.count - 1, wait: wait || index > 0)
            if !sent { return false }
        }
        return true
    }

    // MARK: Receiving

    /// Receives one frame.
    /// - Parameter wait: block until a frame arrives (or the receive timeout passes).
    /// - Returns: the frame and whether more frames of the same message follow, or nil when
    ///   no frame is ready (`EAGAIN`).
    public func receiveFrame(wait: Bool = true) throws -> (bytes: [UInt8], more: Bool)? {
        try receiveFrame(wait: wait) { bytes, more in ([UInt8](bytes), more) }
    }

    /// Receives one frame and lends its bytes to `body` without copying them; they are
    /// valid only during the call.
    /// - Returns: what `body` returned, or nil when no frame is ready (`EAGAIN`).
    public func receiveFrame<Result>(
        wait: Bool = true, _ body: (_ bytes: UnsafeRawBufferPointer, _ more: Bool) throws -> Result
    ) throws -> Result? {
        try receiveFrame(wait: wait, peer: false) { bytes, more, _ in try body(bytes, more) }
    }

    /// Receives one frame as ``receiveFrame(wait:_:)`` does, with the authenticated peer when
    /// `peer` is true: the `User-Id` the ZAP handler gave the connection (nil without one).
    public func receiveFrame<Result>(
        wait: Bool = true, peer: Bool, _ body: (_ bytes: UnsafeRawBufferPointer, _ more: Bool, _ peer: String?) throws -> Result
    ) throws -> Result? {
        var message = zmq_msg_t()
        zmq_msg_init(&message)
        defer { zmq_msg_close(&message) }
        while true {
            if zmq_msg_recv(&message, handle, wait ? 0 : ZMQ_DONTWAIT) >= 0 { break }
            let error = ZMQError(call: "zmq_msg_recv")
            if error.interrupted { continue }
            if error.wouldBlock { return nil }
            throw error
        }
        let size = zmq_msg_size(&message)
        let bytes = size == 0 ? UnsafeRawBufferPointer(start: nil, count: 0) : UnsafeRawBufferPointer(start: zmq_msg_data(&message), count: size)
        var userID: String?
        if peer, let property = zmq_msg_gets(&message, "User-Id") { userID = String(cString: property) }
        return try body(bytes, zmq_msg_more(&message) != 0, userID)
    }

    /// Receives all frames of one message, or nil when none is ready.
    public func receiveMessage(wait: Bool = true) throws -> [[UInt8]]? {
        try receiveMessage(wait: wait, peer: false)?.frames
    }

    /// Receives all frames of one message with its authenticated peer (the `User-Id` of the
    /// ZAP handler; nil without one, or when `peer` is false), or nil when none is ready.
    public func receiveMessage(wait: Bool = true, peer: Bool) throws -> (frames: [[UInt8]], peer: String?)? {
        guard let first = try receiveFrame(wait: wait, peer: peer, { bytes, more, peer in ([UInt8](bytes), more, peer) }) else {
            return nil
        }
        var frames = [first.0]
        var more = first.1
        // A ROUTER's routing-id frame carries no metadata: take the peer of the frames after it.
        var sender = first.2
        while more {
            // The remaining frames of a message are already here: never EAGAIN.
            guard let next = try receiveFrame(wait: true, peer: peer, { bytes, more, peer in ([UInt8](bytes), more, peer) }) else { break }
            frames.append(next.0)
            more = next.1
            sender = sender ?? next.2
        }
        return (frames, sender)
    }
}
