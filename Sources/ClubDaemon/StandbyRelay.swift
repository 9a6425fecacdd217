import Dispatch
import Foundation
import Logging
import PostgresStorage
import Synchronization
import ZMQ

/// What a standby instance does while another holds the database's lease: it binds the three
/// endpoints it would serve and relays them to the holder, so devices, clients and subscribers
/// may use any instance.
///
/// - command: ROUTER ⇄ DEALER — a request goes to the holder with its envelope, the reply comes
///   back to the client (the holder's command socket keeps the whole envelope);
/// - ingest: PULL → PUSH — frames are passed on as they are (telemetry is not acknowledged;
///   what is queued for a holder that dies is lost with it, as it would be in the holder);
/// - publish: XSUB ⇄ XPUB — the holder's publications to this instance's subscribers, their
///   subscriptions upstream.
///
/// Each relay runs libzmq's proxy on a thread of its own; ``stop()`` ends them and closes the
/// sockets, so the endpoints are free for the instance when it takes the lease.
final class StandbyRelay: Sendable {
    /// The holder relayed to.
    let holder: LeaseEndpoints
    private let context: ZMQContext
    /// One per proxy, used by ``stop()`` only (once, under the lock).
    private let controls: Mutex<[SendableSocket]>
    private let finished = DispatchGroup()

    /// A socket handed from the thread that made it to the one that uses it alone.
    private struct SendableSocket: @unchecked Sendable {
        // @unchecked: a socket is used by one thread at a time; each is handed over once (to its
        // proxy thread, or kept for stop()), and thread start is the memory barrier libzmq asks for.
        let socket: ZMQSocket
    }

    /// Binds `local`'s endpoints and connects them to `holder`'s.
    /// - Throws: ``ZMQError`` when an endpoint cannot be bound (held by another process).
    init(local: LeaseEndpoints, holder: LeaseEndpoints, maxCommandBytes: Int, maxFrameBytes: Int, logger: Logger) throws {
        self.holder = holder
        let context = ZMQContext()
        self.context = context
        var controls: [SendableSocket] = []
        let pairs: [(name: String, front: ZMQSocketType, bind: String, back: ZMQSocketType, connect: String, limit: Int?)] = [
            ("command", .router, local.command, .dealer, holder.command, maxCommandBytes),
            ("ingest", .pull, local.ingest, .push, holder.ingest, maxFrameBytes),
            ("publish", .xpub, local.publish, .xsub, holder.publish, nil),
        ]
        var made: [(name: String, front: SendableSocket, back: SendableSocket, control: SendableSocket)] = []
        do {
            for (index, pair) in pairs.enumerated() {
                let front = try ZMQSocket(context: context, type: pair.front)
                let back = try ZMQSocket(context: context, type: pair.back)
                for socket in [front, back] { try socket.set(.linger, 0) }
                if let limit = pair.limit { try front.set(.maxMessageSize, limit) }
                try front.bind(pair.bind)
                try back.connect(pair.connect)
                let address = "inproc://clubd-relay-\(index)-\(ObjectIdentifier(context).hashValue)"
                let control = try ZMQSocket(context: context, type: .pair)
                try control.bind(address)
                let steer = try ZMQSocket(context: context, type: .pair)
                try steer.set(.linger, 0)
                try steer.connect(address)
                controls.append(SendableSocket(socket: steer))
                // The XSUB side is the proxy's frontend: publications flow from it to the XPUB.
                made.append(
                    pair.front == .xpub
                        ? (pair.name, SendableSocket(socket: back), SendableSocket(socket: front), SendableSocket(socket: control))
                        : (pair.name, SendableSocket(socket: front), SendableSocket(socket: back), SendableSocket(socket: control)))
            }
        } catch {
            for m in made { [m.front, m.back, m.control].forEach { $0.socket.close() } }
            controls.forEach { $0.socket.close() }
            throw error
        }
        self.controls = Mutex(controls)
        for m in made {
            finished.enter()
            let group = finished
            let thread = Thread {
                do {
                    try ZMQSocket.proxy(frontend: m.front.socket, backend: m.back.socket, control: m.control.socket)
                } catch {
                    logger.error("standby relay ended", metadata: ["relay": "\(m.name)", "error": "\(error)"])
                }
                [m.front, m.back, m.control].forEach { $0.socket.close() }
                group.leave()
            }
            thread.name = "clubd-relay-\(m.name)"
            thread.start()
        }
        logger.notice("standby: relaying to the lease's holder", metadata: ["holder": "\(holder)"])
    }

    /// Ends the relays and frees the endpoints (idempotent).
    func stop() {
        let controls = self.controls.withLock { controls in
            defer { controls = [] }
            return controls
        }
        for control in controls {
            _ = try? control.socket.send(Array("TERMINATE".utf8))
            control.socket.close()
        }
        finished.wait()
    }

    deinit { stop() }
}
