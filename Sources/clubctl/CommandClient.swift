import Foundation
import JSON
import ZMQ

/// A REQ client with the Lazy Pirate pattern: wait for the reply up to a timeout; on
/// timeout close the socket (a REQ socket cannot send twice), reconnect and resend.
/// Resending is safe because `submit` is idempotent for the same events.
final class CommandClient {
    private let context: ZMQContext
    private let endpoint: String
    private let timeout: Int
    private let retries: Int
    private var socket: ZMQSocket?

    init(context: ZMQContext, endpoint: String, timeout: Int, retries: Int) {
        self.context = context
        self.endpoint = endpoint
        self.timeout = timeout
        self.retries = retries
    }

    private func connect() throws -> ZMQSocket {
        let socket = try ZMQSocket(context: context, type: .req)
        try socket.set(.linger, 0)
        try socket.connect(endpoint)
        return socket
    }

    /// Sends a request and returns the parsed reply.
    func request(_ body: [UInt8]) throws -> JSONValue {
        for _ in 0..<max(1, retries) {
            let socket = try self.socket ?? connect()
            self.socket = socket
            try socket.send(body)
            var poller = ZMQPoller(reading: [socket])
            if try poller.poll(timeoutMilliseconds: timeout)[0], let reply = try socket.receiveFrame(wait: false) {
                return try JSONValue.parse(reply.bytes)
            }
            socket.close()
            self.socket = nil
        }
        throw ClientError("no reply from \(endpoint) after \(retries) attempts of \(timeout) ms")
    }

    func request(_ value: JSONValue) throws -> JSONValue { try request(value.serialized()) }
}

struct ClientError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
