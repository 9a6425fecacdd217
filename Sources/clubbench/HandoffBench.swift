import ArgumentParser
import ClubRuntime
import Dispatch
import Foundation
import ZMQ

/// What a hand-off between two stages costs: batches of published messages (topic + payload, as
/// the stages hand them to the publisher) passed to an actor on its own executor — how clubd
/// hands them over today — beside the same batches as multipart messages over a ZeroMQ PUSH/PULL
/// pair, `inproc://` (another thread) and `ipc://` (what a stage in another process would use).
struct HandoffBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "handoff", abstract: "Stage-to-stage hand-off: actor call per batch vs ZeroMQ inproc/ipc batch channel.")
    @Option(help: "Messages to hand over.") var messages = 1_000_000
    @Option(help: "Messages per batch.") var batch = 64
    @Option(help: "Payload bytes per message.") var bytes = 200
    @Option(help: "Rounds of the three, alternated.") var rounds = 3

    /// Counts what it is handed, on its own thread as the publisher does.
    actor Sink {
        private let executor = DispatchQueueExecutor(label: "clubbench-sink")
        nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }
        private(set) var received = 0
        func take(_ batch: [Publisher.Message]) { received += batch.count }
    }

    func run() throws {
        let payload = [UInt8](repeating: UInt8(ascii: "x"), count: bytes)
        let batches = (0..<(messages / batch)).map { b in
            (0..<batch).map { i in Publisher.Message(topic: "window.u-\((b * batch + i) % 10_000)", members: payload) }
        }
        let total = batches.count * batch
        print("hand-off of \(total) messages in batches of \(batch), \(bytes) payload bytes each")
        var results: [String: [Double]] = [:]
        for round in 1...rounds {
            let actor = try measureActor(batches)
            let inproc = try measureZMQ(batches, endpoint: "inproc://clubbench-handoff-\(round)")
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("clubbench-handoff-\(getpid())-\(round)").path
            let ipc = try measureZMQ(batches, endpoint: "ipc://\(path)")
            try? FileManager.default.removeItem(atPath: path)
            for (name, seconds) in [("actor", actor), ("inproc", inproc), ("ipc", ipc)] {
                results[name, default: []].append(Double(total) / seconds)
            }
            print(String(format: "round %d  actor %.0f  inproc %.0f  ipc %.0f messages/s", round, Double(total) / actor, Double(total) / inproc, Double(total) / ipc))
        }
        func median(_ name: String) -> Double { results[name]!.median }
        let base = median("actor")
        print(String(format: "median    actor call (today) %.0f messages/s", base))
        print(String(format: "median    ZeroMQ inproc      %.0f messages/s  (ratio %.2f)", median("inproc"), median("inproc") / base))
        print(String(format: "median    ZeroMQ ipc         %.0f messages/s  (ratio %.2f)", median("ipc"), median("ipc") / base))
    }

    private func measureActor(_ batches: [[Publisher.Message]]) throws -> Double {
        let sink = Sink()
        let done = DispatchSemaphore(value: 0)
        let start = DispatchTime.now()
        Task {
            for batch in batches { await sink.take(batch) }
            done.signal()
        }
        done.wait()
        return start.elapsedSeconds
    }

    private func measureZMQ(_ batches: [[Publisher.Message]], endpoint: String) throws -> Double {
        let context = ZMQContext()
        let pull = try ZMQSocket(context: context, type: .pull)
        try pull.set(.receiveHighWaterMark, 1000)
        try pull.bind(endpoint)
        let push = try ZMQSocket(context: context, type: .push)
        try push.set(.sendHighWaterMark, 1000)
        try push.set(.linger, 1000)
        try push.connect(endpoint)
        let expected = batches.count
        let finished = DispatchSemaphore(value: 0)
        let receiver = Thread {
            var received = 0
            var messages = 0
            while received < expected, let frames = try? pull.receiveMessage() {
                received += 1
                messages += frames.count / 2
            }
            precondition(messages == expected * (batches.first?.count ?? 0), "lost messages")
            finished.signal()
        }
        let start = DispatchTime.now()
        receiver.start()
        for batch in batches {
            var frames: [[UInt8]] = []
            frames.reserveCapacity(batch.count * 2)
            for message in batch {
                frames.append(Array(message.topic.utf8))
                frames.append(message.members)
            }
            _ = try push.send(frames: frames)
        }
        finished.wait()
        let seconds = start.elapsedSeconds
        push.close()
        pull.close()
        return seconds
    }
}
