import Foundation
import JSON
import ZMQ

/// A client of the command socket with the Lazy Pirate pattern: wait for the reply up to a
/// timeout; on timeout close the socket (a REQ socket cannot send twice), reconnect and
/// resend. Resending is safe because `submit` is idempotent for the same event ids.
///
/// `endpoint` may list several, separated by commas — the instances sharing one PostgreSQL
/// database, each of which answers every request (a standby relays to the holder): requests go
/// round-robin to those whose connection is up (`ZMQ_IMMEDIATE`), and a resend skips one that died.
public final class CommandClient {
    private let context: ZMQContext
    private let endpoint: String
    private let timeout: Int
    private let retries: Int
    private let curve: CurveClientKeys?
    private var socket: ZMQSocket?
    /// Requests sent again after a timeout, since this client was made.
    public private(set) var resends = 0

    /// - Parameters:
    ///   - timeout: milliseconds to wait for each reply.
    ///   - retries: attempts per request before giving up.
    ///   - curve: authenticate with CurveZMQ (a daemon in `security.mode: curve`).
    public init(context: ZMQContext, endpoint: String, timeout: Int, retries: Int, curve: CurveClientKeys? = nil) {
        self.curve = curve
        self.context = context
        self.endpoint = endpoint
        self.timeout = timeout
        self.retries = retries
    }

    private func connect() throws -> ZMQSocket {
        let socket = try ZMQSocket(context: context, type: .req)
        try socket.set(.linger, 0)
        try socket.set(.immediate, 1)
        try socket.set(.sendTimeout, timeout)  // no instance up: the attempt times out instead of blocking
        try curve?.apply(to: socket)
        for endpoint in Self.endpoints(endpoint) { try socket.connect(endpoint) }
        return socket
    }

    /// The endpoints of a comma-separated list.
    public static func endpoints(_ list: String) -> [String] {
        list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// Sends a request and returns the parsed reply.
    /// - Throws: ``ClientError`` when every attempt timed out.
    public func request(_ body: [UInt8]) throws -> JSONValue {
        for attempt in 0..<max(1, retries) {
            if attempt > 0 { resends += 1 }
            let socket = try self.socket ?? connect()
            self.socket = socket
            var poller = ZMQPoller(reading: [socket])
            if try socket.send(body), try poller.poll(timeoutMilliseconds: timeout)[0], let reply = try socket.receiveFrame(wait: false) {
                return try JSONValue.parse(reply.bytes)
            }
            socket.close()
            self.socket = nil
        }
        throw ClientError("no reply from \(endpoint) after \(retries) attempts of \(timeout) ms")
    }

    public func request(_ value: JSONValue) throws -> JSONValue { try request(value.serialized()) }
}

/// The daemon did not answer.
public struct ClientError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
