import ClubTestKit
import Foundation
import JSON
import Testing
import ZMQ

/// The publisher's batch channel through a real clubd: a stage in another process PUSHes
/// batches to `publish.channel` and subscribers get them with `topic`, `seq` and `at`, like the
/// daemon's own; malformed pairs are dropped without harming what follows.
@Suite(.serialized) struct PublishChannelTests {
    @Test func aStageInAnotherProcessPublishesThroughTheChannel() throws {
        let daemon = try DaemonProcess()
        let channel = "ipc://\(daemon.directory.path)/publish-in"
        let config = daemon.directory.appendingPathComponent("clubd.yaml")
        try "publish: {channel: \"\(channel)\"}\n".write(to: config, atomically: true, encoding: .utf8)
        try daemon.start(extraArguments: ["--config", config.path])
        let stage = try daemon.subscriber("stage.")
        let activity = try daemon.subscriber("activity.")

        let push = try ZMQSocket(context: ZMQContext(), type: .push)
        defer { push.close() }
        try push.set(.linger, 2000)
        try push.connect(channel)
        let good = Array(#""user":"u-1","value":3"#.utf8)
        // A batch of three pairs, the middle one not JSON members: two are published.
        _ = try push.send(frames: [Array("stage.u-1".utf8), good, Array("stage.u-1".utf8), Array(#""oops"#.utf8), Array("stage.u-2".utf8), good])
        // What looks like the daemon's own stop message is just a malformed batch from outside.
        _ = try push.send(frames: [[], [2]])
        _ = try push.send(frames: [Array("stage.u-1".utf8), Array(#""user":"u-1","value":4"#.utf8)])

        let received = try stage.receive(count: 3)
        #expect(received.map(\.topic) == ["stage.u-1", "stage.u-2", "stage.u-1"])
        #expect(received.map { $0.payload["seq"]?.int64Value } == [1, 1, 2])
        #expect(received.map { $0.payload["value"]?.int64Value } == [3, 3, 4])
        #expect(received.allSatisfy { ($0.payload["at"]?.int64Value ?? 0) > 0 && $0.payload["topic"]?.stringValue == $0.topic })

        // The daemon's own publications go on.
        let event = try JSONValue.parse(#"{"type":"club.visited","id":"v1","user":"u-1"}"#)
        #expect(try daemon.request(["op": "submit", "events": [event]])["accepted"] == 1)
        #expect(try activity.receive(count: 1).first?.payload["offset"] == 1)
        #expect(daemon.terminate() == 0)
    }
}
