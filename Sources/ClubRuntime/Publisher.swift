import ClubKernel
import Foundation
import JSON
import Metrics
import Synchronization
import ZMQ

/// Publishes on the PUB socket. Every message is `[topic, json]`; the JSON carries `topic`, a
/// per-topic `seq` starting at 1 and the publication time `at` (epoch ms).
///
/// The stages hand their results over a **batch channel**, a ZeroMQ PUSH → PULL pair: a batch is
/// one multipart message `[topic, members, topic, members, …]`. The PULL socket and the PUB socket
/// live on one thread of their own, which stamps `seq` and `at` and publishes; in this process the
/// channel is `inproc://`, and `publish.channel` binds it on `ipc://` or `tcp://` as well, so a
/// stage in another process publishes through clubd the same way (measured: `clubbench handoff`).
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

    /// This process's end of the channel; used only on this actor's executor.
    private let push: ZMQSocket
    private let thread: PublishingThread
    private var closed = false
    /// The PUB endpoint actually bound.
    public nonisolated let boundEndpoint: String
    /// The channel's endpoints other processes may PUSH batches to (none by default).
    public nonisolated let channelEndpoints: [String]

    private static let counter = Atomic(0)

    /// - Parameter channelEndpoints: `ipc://` or `tcp://` endpoints on which the channel also
    ///   takes batches from stages in other processes.
    ///   - curveSecretKey: make the PUB socket a CurveZMQ server with this secret key (Z85), whose
    ///     subscribers the context's ZAP handler admits under the domain `publish`.
    public init(
        context: ZMQContext, endpoint: String, sendHighWaterMark: Int, channelEndpoints: [String] = [], curveSecretKey: String? = nil
    ) throws {
        let inproc = "inproc://clubd-publish-\(Self.counter.add(1, ordering: .relaxed).newValue)"
        thread = try PublishingThread(
            context: context, endpoint: endpoint, sendHighWaterMark: sendHighWaterMark, inproc: inproc, channel: channelEndpoints,
            curveSecretKey: curveSecretKey)
        boundEndpoint = thread.boundEndpoint
        self.channelEndpoints = thread.channelEndpoints
        push = try ZMQSocket(context: context, type: .push)
        // The channel never refuses a batch: what the PUB socket cannot send it drops, per
        // subscriber, at its own high-water mark (ZeroMQ PUB semantics), so the thread keeps up.
        try push.set(.sendHighWaterMark, 0)
        try push.set(.linger, 1000)
        try push.connect(inproc)
        thread.start()
    }

    /// Publishes messages in order. A slow subscriber loses messages at its high-water
    /// mark (ZeroMQ PUB semantics) and sees the gap in `seq`.
    public func publish(_ batch: [Message]) {
        guard !batch.isEmpty, !closed else { return }
        var frames: [[UInt8]] = []
        frames.reserveCapacity(batch.count * 2)
        for message in batch {
            frames.append(Array(message.topic.utf8))
            frames.append(message.members)
        }
        // Sends on an unbounded inproc PUSH do not block; an error means shutdown.
        _ = try? push.send(frames: frames)
    }

    /// Publishes what was handed over before, then stops the thread and closes the sockets.
    public func close() {
        guard !closed else { return }
        closed = true
        thread.request(.stop, through: push)
        push.close()
    }

    /// The per-topic counters after every batch handed over before, so a restart continues
    /// each topic's `seq`.
    public func snapshot() -> [UInt8] {
        guard !closed else { return thread.sequencesSnapshot() }
        thread.request(.mark, through: push)
        return thread.sequencesSnapshot()
    }

    public func restore(_ bytes: [UInt8]) throws {
        var r = StateReader(bytes)
        var restored: [String: Int] = [:]
        for _ in 0..<(try r.readInt()) { restored[try r.readString()] = try r.readInt() }
        thread.restore(restored)
    }
}

/// The channel's PULL side and the PUB socket, on a thread of their own.
final class PublishingThread: @unchecked Sendable {
    // @unchecked: `pull`, `external` and `pub` are used only by the thread after `start()`
    // (and closed by it); `sequences` is behind a Mutex; the rest are semaphores and constants.
    /// The in-process channel: batches of this process's stages, and control messages.
    private let pull: ZMQSocket
    /// Batches from stages in other processes (`publish.channel`), checked before publishing.
    private let external: ZMQSocket?
    private let pub: ZMQSocket
    private let sequences = Mutex<[String: Int]>([:])
    private let done = DispatchSemaphore(value: 0)
    private let acknowledged = DispatchSemaphore(value: 0)
    /// Set when the thread has ended, so that no request waits for it any more.
    private let finished = Atomic(false)
    private let refusedCounter = Counter(label: "clubd_publish_channel_refused_total")
    let boundEndpoint: String
    let channelEndpoints: [String]

    enum Control: UInt8 {
        /// Acknowledge once every batch before it is published.
        case mark = 1
        /// Publish every batch before it, then stop.
        case stop = 2
    }

    init(context: ZMQContext, endpoint: String, sendHighWaterMark: Int, inproc: String, channel: [String], curveSecretKey: String?) throws {
        pub = try ZMQSocket(context: context, type: .pub)
        try pub.set(.sendHighWaterMark, sendHighWaterMark)
        try pub.set(.linger, 200)
        if let curveSecretKey { try pub.makeCurveServer(secretKey: curveSecretKey, domain: "publish") }
        try pub.bind(endpoint)
        boundEndpoint = pub.lastEndpoint
        pull = try ZMQSocket(context: context, type: .pull)
        try pull.set(.receiveHighWaterMark, 0)
        try pull.set(.linger, 0)
        try pull.bind(inproc)
        if channel.isEmpty {
            external = nil
            channelEndpoints = []
        } else {
            let socket = try ZMQSocket(context: context, type: .pull)
            try socket.set(.linger, 0)
            var bound: [String] = []
            for endpoint in channel {
                try socket.bind(endpoint)
                bound.append(socket.lastEndpoint)
            }
            external = socket
            channelEndpoints = bound
        }
    }

    func start() {
        let thread = Thread { [self] in run() }
        thread.name = "clubd-publish"
        thread.start()
    }

    func restore(_ restored: [String: Int]) { sequences.withLock { $0 = restored } }

    func sequencesSnapshot() -> [UInt8] {
        let current = sequences.withLock { $0 }
        var w = StateWriter()
        w.write(current.count)
        for (topic, seq) in current.sorted(by: { $0.key < $1.key }) {
            w.write(topic)
            w.write(seq)
        }
        return w.bytes
    }

    /// Sends a control message behind every batch `push` handed over, and waits until the
    /// thread has handled it (for `stop`: until the thread has ended) — at most 5 s, and not at
    /// all once the thread has ended, so a snapshot or a shutdown never hangs on it.
    func request(_ control: Control, through push: ZMQSocket) {
        guard !finished.load(ordering: .acquiring), (try? push.send(frames: [[], [control.rawValue]])) == true else { return }
        switch control {
        case .mark: _ = acknowledged.wait(timeout: .now() + .seconds(5))
        case .stop: _ = done.wait(timeout: .now() + .seconds(5))
        }
    }

    private func run() {
        defer {
            pull.close()
            external?.close()
            pub.close()
            finished.store(true, ordering: .releasing)
            done.signal()
            acknowledged.signal()  // a snapshot waiting now gets the counters as they are
        }
        var poller = ZMQPoller(reading: [pull] + (external.map { [$0] } ?? []))
        while true {
            do {
                let ready = try poller.poll(timeoutMilliseconds: 1000)
                if ready[0] {
                    while let frames = try pull.receiveMessage(wait: false) {
                        if frames.count == 2, frames[0].isEmpty, let control = frames[1].first.flatMap(Control.init(rawValue:)) {
                            switch control {
                            case .mark: acknowledged.signal()
                            case .stop: return
                            }
                            continue
                        }
                        publish(frames, checked: false)
                    }
                }
                if ready.count > 1, ready[1], let external {
                    while let frames = try external.receiveMessage(wait: false) { publish(frames, checked: true) }
                }
            } catch {
                return  // the context is gone
            }
        }
    }

    /// Stamps and sends `[topic, members, …]`. From another process (`checked`), a pair whose
    /// topic is not UTF-8 text or whose members are not JSON object members is dropped and
    /// counted (`clubd_publish_channel_refused_total`), as is an odd frame out.
    private func publish(_ frames: [[UInt8]], checked: Bool) {
        let at = Clock.nowMillis()
        var index = 0
        if frames.count % 2 == 1 { refusedCounter.increment() }
        while index + 1 < frames.count {
            let topic = frames[index]
            let members = frames[index + 1]
            index += 2
            if checked {
                guard !topic.isEmpty, String(validating: topic, as: UTF8.self) != nil,
                    case .object? = try? JSONValue.parse([UInt8(ascii: "{")] + members + [UInt8(ascii: "}")])
                else {
                    refusedCounter.increment()
                    continue
                }
            }
            let name = String(decoding: topic, as: UTF8.self)
            let seq = sequences.withLock { s in
                let next = (s[name] ?? 0) + 1
                s[name] = next
                return next
            }
            var writer = JSONWriter(capacity: members.count + 64)
            writer.beginObject()
            writer.member("topic", name)
            writer.member("seq", seq)
            writer.member("at", Int(at))
            writer.endObject()
            var payload = writer.bytes
            if !members.isEmpty {
                payload.removeLast()
                payload.append(UInt8(ascii: ","))
                payload.append(contentsOf: members)
                payload.append(UInt8(ascii: "}"))
            }
            do {
                try pub.send(topic, more: true)
                try pub.send(payload)
            } catch {
                return
            }
        }
    }
}
