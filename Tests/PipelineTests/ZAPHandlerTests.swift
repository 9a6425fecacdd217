import ClubRuntime
import Foundation
import Logging
import Testing
import ZMQ

/// The ZAP handler with real CURVE sockets: it admits the keys `decide` admits, under the
/// socket's domain, and every message of an admitted connection carries the client's key.
@Suite struct ZAPHandlerTests {
    @Test func admitsDecidedKeysAndNamesTheSenderOfEachMessage() throws {
        let context = ZMQContext()
        let server = try CurveKeys.generate()
        let friend = try CurveKeys.generate()
        let stranger = try CurveKeys.generate()
        let zap = try ZAPHandler(context: context, logger: Logger(label: "test")) { domain, key in
            domain == "ingest" && key == friend.publicKey ? nil : "unknown_key"
        }
        zap.start()
        defer { zap.stop() }
        let pull = try ZMQSocket(context: context, type: .pull)
        try pull.set(.linger, 0)
        try pull.set(.receiveTimeout, 3000)
        try pull.makeCurveServer(secretKey: server.secretKey, domain: "ingest")
        try pull.bind("tcp://127.0.0.1:*")
        func push(_ keys: (publicKey: String, secretKey: String), _ text: String) throws -> ZMQSocket {
            let socket = try ZMQSocket(context: context, type: .push)
            try socket.set(.linger, 0)
            try CurveClientKeys(serverKey: server.publicKey, publicKey: keys.publicKey, secretKey: keys.secretKey).apply(to: socket)
            try socket.connect(pull.lastEndpoint)
            _ = try socket.send(Array(text.utf8), wait: false)
            return socket
        }
        let refused = try push(stranger, "from a stranger")
        let admitted = try push(friend, "from a friend")
        let received = try pull.receiveFrame(wait: true, peer: true) { bytes, _, peer in (String(decoding: bytes, as: UTF8.self), peer) }
        #expect(received?.0 == "from a friend" && received?.1 == friend.publicKey)
        try pull.set(.receiveTimeout, 500)
        #expect(try pull.receiveFrame(wait: true) == nil)
        _ = (refused, admitted)
    }
}
