import ClubKernel
import JSON
import ZMQ

/// Owns the PUB socket. Every message is `[topic, json]`; the JSON carries `topic`, a
/// per-topic `seq` starting at 1 and the publication time `at` (epoch ms).
///
/// Runs on its own serial executor, so the socket stays on one thread at a time.
public actor Publisher {
    /// One message to publish: the topic and the payload's other members, already
    /// serialized as `"key":value` pairs separated by commas (no braces).
    public struct Message: Sendable {
        public let topic: String
        public let members: [UInt8]

        public init(topic: String, members: [UInt8]) {
            self.topic = topic
            self.members = members
        }
    }

    private let executor = DispatchQueueExecutor(label: "clubd-publisher")
    public nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    private let socket: ZMQSocket
    private var sequences: [String: Int] = [:]
    public nonisolated let boundEndpoint: String

    public init(context: ZMQContext, endpoint: String, sendHighWaterMark: Int) throws {
        socket = try ZMQSocket(context: context, type: .pub)
        try socket.set(.sendHighWaterMark, sendHighWaterMark)
        try socket.set(.linger, 200)
        try socket.bind(endpoint)
        boundEndpoint = socket.lastEndpoint
    }

    /// Publishes messages in order. A slow subscriber loses messages at its high-water
    /// mark (ZeroMQ PUB semantics) and sees the gap in `seq`.
    public func publish(_ batch: [Message]) {
        let at = Clock.nowMillis()
        for message in batch {
            let seq = (sequences[message.topic] ?? 0) + 1
            sequences[message.topic] = seq
            var writer = JSONWriter(capacity: message.members.count + 64)
            writer.beginObject()
            writer.member("topic", message.topic)
            writer.member("seq", seq)
            writer.member("at", Int(at))
            writer.endObject()
            var payload = writer.bytes
            if !message.members.isEmpty {
                payload.removeLast()
                payload.append(UInt8(ascii: ","))
                payload.append(contentsOf: message.members)
                payload.append(UInt8(ascii: "}"))
            }
            do {
                try socket.send(Array(message.topic.utf8), more: true)
                try socket.send(payload)
            } catch {
                // PUB sends never block; an error here means the context is gone (shutdown).
                return
            }
        }
    }

    public func close() { socket.close() }

    /// The per-topic counters, so a restart continues each topic's `seq`.
    public func snapshot() -> [UInt8] {
        var w = StateWriter()
        w.write(sequences.count)
        for (topic, seq) in sequences.sorted(by: { $0.key < $1.key }) {
            w.write(topic)
            w.write(seq)
        }
        return w.bytes
    }

    public func restore(_ bytes: [UInt8]) throws {
        var r = StateReader(bytes)
        var restored: [String: Int] = [:]
        for _ in 0..<(try r.readInt()) { restored[try r.readString()] = try r.readInt() }
        sequences = restored
    }
}
