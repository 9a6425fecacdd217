import ClubClient
import ClubTestKit
import Foundation
import GRDB
import JSON
import Testing
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import ZMQ

/// `security.mode: curve` through a real clubd and real CURVE sockets: unknown keys get no
/// answer and nothing they send is processed; a device speaks for its own user only, refused
/// per event; a service only within its types and ops; a device key rotated and retired with
/// events, no restart; device keys across `kill -9`; self-asserted events earn no points;
/// `open` mode refuses to bind beyond loopback.
@Suite(.serialized) struct SecurityEndToEndTests {
    static let now = Int64(Date().timeIntervalSince1970 * 1000)

    static func event(_ json: String) -> JSONValue { try! JSONValue.parse(json) }

    static func telemetry(_ user: String, ts: Int64, km: Double, device: String = "w1") -> String {
        #"{"type":"telemetry","user":"\#(user)","device":"\#(device)","session":"s","ts":\#(ts),"distance_m":\#(km * 1000),"hr":140}"#
    }

    static func codes(_ reply: JSONValue) -> [Int: String] {
        var codes: [Int: String] = [:]
        for r in reply["rejected"]?.arrayValue ?? [] {
            if let i = r["index"]?.int64Value, let c = r["code"]?.stringValue { codes[Int(i)] = c }
        }
        return codes
    }

    static func submit(_ daemon: DaemonProcess, _ events: [JSONValue], as keys: CurveClientKeys? = nil) throws -> JSONValue {
        try daemon.request(["op": "submit", "events": .array(events)], as: keys)
    }

    static func register(_ device: String, of user: String, key: CurveClientKeys, id: String) -> JSONValue {
        event(#"{"type":"device.registered","id":"\#(id)","user":"\#(user)","device":"\#(device)","kind":"watch","public_key":"\#(key.publicKey)"}"#)
    }

    /// Samples the telemetry stage has taken in so far.
    static func processed(_ daemon: DaemonProcess) throws -> Int64 {
        try daemon.request(["op": "health"])["samples_processed"]?.int64Value ?? -1
    }

    /// A REQ connection kept open across requests (one attempt each: no reconnect, which would
    /// be a new handshake).
    static func connection(_ daemon: DaemonProcess, keys: CurveClientKeys) -> CommandClient {
        CommandClient(context: ZMQContext(), endpoint: daemon.command, timeout: 5000, retries: 1, curve: keys)
    }

    /// `GET /metrics` of the daemon's Prometheus listener.
    static func metrics(port: UInt16) async throws -> String {
        let (data, _) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/metrics")!)
        return String(decoding: data, as: UTF8.self)
    }

    @Test func unknownKeysGetNoAnswerAndNothingTheySendIsProcessed() async throws {
        let daemon = try DaemonProcess()
        let curve = try daemon.enableCurve()
        let port = UInt16.random(in: 20_000...60_000)
        try daemon.start(extraArguments: curve.flags + ["--metrics", "127.0.0.1:\(port)"])
        let stranger = try curve.newClient()
        // The command socket: no reply for a stranger, nor for a client without CURVE.
        #expect(throws: (any Error).self) { try daemon.request(["op": "health"], timeout: 1500, as: stranger) }
        let plain = try ZMQSocket(context: ZMQContext(), type: .req)
        try plain.set(.linger, 0)
        try plain.connect(daemon.command)
        try plain.send(Array(#"{"op":"health"}"#.utf8))
        var poller = ZMQPoller(reading: [plain])
        #expect(try poller.poll(timeoutMilliseconds: 1500) == [false])
        // Ingest: a stranger's samples are never processed; the admin's are, exactly.
        let push = try daemon.pusher(as: stranger)
        for i in 0..<5 { try push.send(Array(Self.telemetry("ann", ts: Self.now - 60_000 + Int64(i) * 1000, km: 1).utf8), wait: false) }
        // A subscriber with a stranger's key hears nothing of what the admin's subscriber hears.
        let eavesdropper = try daemon.subscriber("", as: stranger)
        let heard = try daemon.subscriber("rejected")
        let admin = try daemon.pusher()
        for i in 0..<3 { try admin.send(Array(Self.telemetry("bob", ts: Self.now - 60_000 + Int64(i) * 1000, km: 1).utf8)) }
        try daemon.waitFor("samples_processed", 3)
        try await Task.sleep(for: .milliseconds(500))
        #expect(try Self.processed(daemon) == 3)
        try admin.send(Array("not json".utf8))  // `not_an_object`, published on `rejected`
        let heardOne = try heard.receive(count: 1)
        #expect(heardOne.first?.payload["code"] == "not_an_object", "\(heardOne.map(\.payload.jsonText))")
        #expect(try eavesdropper.receive(count: 1, timeout: 1000).isEmpty)
        // Refusals are logged at most once a second per key: 20 handshakes of one key, one line or two.
        for _ in 0..<20 { _ = try? daemon.request(["op": "health"], timeout: 50, as: stranger) }
        let lines = daemon.log.split(separator: "\n").filter { $0.contains("connection refused") && $0.contains(stranger.publicKey) }
        #expect(lines.count >= 1 && lines.count <= 4, "\(lines.count) log lines for one key")
        #expect(daemon.log.contains("reason=unknown_key"))
        // Counted by reason: every one of the stranger's handshakes (at least the 20 above and the first).
        let counted = try await Self.metrics(port: port).split(separator: "\n").first { $0.hasPrefix("clubd_auth_refused_total{reason=\"unknown_key\"}") }
        let refusals = counted.flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0
        #expect(refusals >= 21, "\(counted ?? "no clubd_auth_refused_total")")
    }

    @Test func aDeviceSpeaksForItsOwnUserOnlyRefusedPerEvent() throws {
        let daemon = try DaemonProcess()
        let curve = try daemon.enableCurve()
        try daemon.start(extraArguments: curve.flags)
        let watch = try curve.newClient()
        #expect(Self.codes(try Self.submit(daemon, [Self.register("w1", of: "ann", key: watch, id: "d1")])).isEmpty)
        let rejected = try daemon.subscriber("rejected")
        // One ingest batch: ann's samples go through, bob's sample and ann's profile are refused alone.
        let t = Self.now - 120_000
        let batch = "[" + [
            Self.telemetry("ann", ts: t, km: 1), Self.telemetry("bob", ts: t, km: 1), Self.telemetry("ann", ts: t + 1000, km: 1.1),
            #"{"type":"profile","id":"p1","user":"ann","region":"north"}"#,
        ].joined(separator: ",") + "]"
        try daemon.pusher(as: watch).send(Array(batch.utf8))
        let refused = try rejected.receive(count: 2)
        #expect(refused.map { $0.payload["code"] } == ["forbidden", "forbidden"], "\(refused.map(\.payload.jsonText))")
        #expect(refused.map { $0.payload["index"] } == [1, 3])
        try daemon.waitFor("samples_processed", 2)
        #expect(try Self.processed(daemon) == 2)
        // submit: the same, answered per event; the device's own workout is accepted.
        let reply = try Self.submit(
            daemon,
            [
                Self.event(#"{"type":"workout","id":"wo1","user":"ann","source":"device","sport":"run","start":\#(t),"duration_s":600,"distance_m":2000}"#),
                Self.event(#"{"type":"workout","id":"wo2","user":"bob","source":"device","sport":"run","start":\#(t),"duration_s":600,"distance_m":2000}"#),
                Self.event(#"{"type":"bonus.spent","id":"sp1","user":"ann","points":10}"#),
                Self.event(#"{"type":"session.attended","id":"sa1","user":"ann","session":"x"}"#),
            ], as: watch)
        #expect(reply["accepted"] == 1, "\(reply.jsonText)")
        #expect(Self.codes(reply) == [1: "forbidden", 2: "forbidden", 3: "unsupported_type"])
        // Ops: a device may use health and submit only.
        #expect(try daemon.request(["op": "health"], as: watch)["ok"] == true)
        #expect(try daemon.request(["op": "balance", "user": "ann"], as: watch)["error"]?["code"] == "forbidden")
        #expect(try daemon.request(["op": "reload"], as: watch)["error"]?["code"] == "forbidden")
        // A device key cannot subscribe: it hears nothing of what the admin's subscriber hears.
        let listening = try daemon.subscriber("", as: watch)
        let heard = try daemon.subscriber("rejected")
        try daemon.pusher().send(Array("not json".utf8))
        let heardOne = try heard.receive(count: 1)
        #expect(heardOne.first?.payload["code"] == "not_an_object", "\(heardOne.map(\.payload.jsonText))")
        #expect(try listening.receive(count: 1, timeout: 1000).isEmpty)
        #expect(daemon.log.contains("reason=not_subscriber"))
    }

    @Test func aServiceSendsItsTypesAndUsesItsOpsOnly() throws {
        let daemon = try DaemonProcess()
        let curve = try daemon.enableCurve(services: [
            (name: "shop", events: ["profile", "bonus.spent", "connection"], ops: ["balance"]),
            (name: "app", events: ["group.*"], ops: ["groups", "group"]),
        ])
        try daemon.start(extraArguments: curve.flags)
        let shop = try #require(curve.services["shop"])
        let app = try #require(curve.services["app"])
        let reply = try Self.submit(
            daemon,
            [
                Self.event(#"{"type":"profile","id":"p1","user":"ann","region":"north","interests":["run"]}"#),
                Self.event(#"{"type":"group.created","id":"g1","user":"ann","group":"g","kind":"joint","title":"Runners"}"#),
                Self.event(#"{"type":"workout","id":"w1","user":"ann","source":"device","sport":"run","start":\#(Self.now - 3_600_000),"duration_s":600,"distance_m":2000}"#),
            ], as: shop)
        #expect(reply["accepted"] == 1 && Self.codes(reply) == [1: "forbidden", 2: "forbidden"], "\(reply.jsonText)")
        let byApp = try Self.submit(
            daemon,
            [
                Self.event(#"{"type":"group.created","id":"g1","user":"ann","group":"g","kind":"joint","title":"Runners"}"#),
                Self.event(#"{"type":"group.joined","id":"g2","user":"bob","group":"g"}"#),
                Self.event(#"{"type":"discussion.posted","id":"g3","user":"bob","group":"g","post":"p","text":"hi"}"#),
            ], as: app)
        #expect(byApp["accepted"] == 2 && Self.codes(byApp) == [2: "forbidden"], "\(byApp.jsonText)")
        #expect(try daemon.request(["op": "balance", "user": "ann"], as: shop)["ok"] == true)
        #expect(try daemon.request(["op": "ledger", "user": "ann"], as: shop)["error"]?["code"] == "forbidden")
        // The community stage's read model follows the log: wait for it to apply the group.
        try daemon.waitForStages(["community"])
        #expect(try daemon.request(["op": "groups", "user": "bob"], as: app)["groups"]?.arrayValue?.count == 1)
        #expect(try daemon.request(["op": "snapshot"], as: app)["error"]?["code"] == "forbidden")
        #expect(try daemon.request(["op": "snapshot"])["ok"] == true)  // the admin may
        // A service subscribes.
        let feed = try daemon.subscriber("activity.profile", as: shop)
        _ = try Self.submit(daemon, [Self.event(#"{"type":"profile","id":"p2","user":"bob","region":"south"}"#)], as: shop)
        #expect(try feed.receive(count: 1).first?.payload["event"]?["id"] == "p2")
    }

    @Test func deviceKeysRotateAndRetireWithoutARestartAndSurviveKill9() throws {
        let daemon = try DaemonProcess()
        let curve = try daemon.enableCurve()
        try daemon.start(extraArguments: curve.flags)
        let first = try curve.newClient()
        let second = try curve.newClient()
        _ = try Self.submit(daemon, [Self.register("w1", of: "ann", key: first, id: "d1")])
        var t = Self.now - 300_000
        func sample() -> JSONValue {
            t += 1000
            return ["op": "submit", "events": [Self.event(Self.telemetry("ann", ts: t, km: Double(t % 100_000) / 1000))]]
        }
        func send(_ keys: CurveClientKeys) throws -> JSONValue { try daemon.request(sample(), as: keys) }
        #expect(try send(first)["accepted"] == 1)
        // Across kill -9: the key is in the log, the gate rebuilt from it.
        daemon.kill()
        try daemon.start(extraArguments: curve.flags)
        let connected = Self.connection(daemon, keys: first)
        #expect(try connected.request(sample())["accepted"] == 1)
        // Rotation: the same device registered with the new key; the old one stops at once —
        // on the connection it has open, and for new connections (no answer).
        _ = try Self.submit(daemon, [Self.register("w1", of: "ann", key: second, id: "d2")])
        #expect(try send(second)["accepted"] == 1)
        #expect(try connected.request(sample())["error"]?["code"] == "forbidden")
        #expect(throws: (any Error).self) { try daemon.request(["op": "health"], timeout: 1500, as: first) }
        // Ingest from the old key's connection: refused from the next message on.
        let rejected = try daemon.subscriber("rejected")
        let oldPush = try daemon.pusher(as: first)
        let newPush = try daemon.pusher(as: second)
        try newPush.send(Array(Self.telemetry("ann", ts: t + 300, km: 9).utf8))
        Thread.sleep(forTimeInterval: 0.3)
        // Refused at the handshake: a PUSH with no peer queues it, and nothing arrives.
        try oldPush.send(Array(Self.telemetry("ann", ts: t + 500, km: 9).utf8), wait: false)
        // Retired: the new key is refused from its next request, on its open connection too.
        let stillOpen = Self.connection(daemon, keys: second)
        #expect(try stillOpen.request(["op": "health"])["ok"] == true)
        _ = try Self.submit(daemon, [Self.event(#"{"type":"device.retired","id":"d3","user":"ann","device":"w1"}"#)])
        #expect(try stillOpen.request(sample())["error"]?["code"] == "forbidden")
        try newPush.send(Array(Self.telemetry("ann", ts: t + 700, km: 9).utf8))
        let refused = try rejected.receive(count: 1)
        #expect(refused.map { $0.payload["code"] } == ["forbidden"], "\(refused.map(\.payload.jsonText))")
        #expect(try rejected.receive(count: 1, timeout: 500).isEmpty)  // the old key's sample never arrived
        #expect(throws: (any Error).self) { try daemon.request(["op": "health"], timeout: 1500, as: second) }
        #expect(daemon.log.contains("reason=retired_key"))
        // A key held by another device, or by an admin, is no new device's.
        let bobs = try curve.newClient()
        let other = try Self.submit(
            daemon,
            [Self.register("w2", of: "bob", key: bobs, id: "d4"), Self.register("w3", of: "cy", key: bobs, id: "d5"),
             Self.register("w4", of: "cy", key: curve.admin, id: "d6")])
        #expect(other["accepted"] == 1 && Self.codes(other) == [1: "conflict", 2: "conflict"], "\(other.jsonText)")
        #expect(try daemon.request(["op": "devices", "user": "ann"])["devices"]?[0]?["retired"] == true)
    }

    @Test func selfAssertedWorkoutsEarnNoPointsInCurveMode() async throws {
        let daemon = try DaemonProcess()
        let curve = try daemon.enableCurve(services: [(name: "imports", events: ["workout", "connection"], ops: [])])
        try daemon.start(extraArguments: curve.flags)
        let watch = try curve.newClient()
        _ = try Self.submit(daemon, [Self.register("w1", of: "ann", key: watch, id: "d1")])
        let start = Self.now - 7_200_000
        let device = try Self.submit(
            daemon, [Self.event(#"{"type":"workout","id":"wd","user":"ann","source":"device","sport":"run","start":\#(start),"duration_s":1800,"distance_m":5000}"#)],
            as: watch)
        let service = try Self.submit(
            daemon,
            [Self.event(#"{"type":"connection","id":"c1","user":"ann","system":"garmin","state":"active"}"#),
             Self.event(#"{"type":"workout","id":"ws","user":"ann","source":"garmin","sport":"ride","start":\#(start - 86_400_000),"duration_s":1800,"distance_m":12000}"#)],
            as: try #require(curve.services["imports"]))
        #expect(device["accepted"] == 1 && service["accepted"] == 2, "\(device.jsonText) \(service.jsonText)")
        try daemon.waitForStages(["bonus"])
        let entries = try daemon.request(["op": "ledger", "user": "ann"])["entries"]?.arrayValue ?? []
        // The service's workout: 10 + 12 (km); the device's: nothing.
        #expect(entries.filter { $0["event"] == "ws" }.compactMap { $0["points"]?.int64Value }.reduce(0, +) == 22, "\(entries.map(\.jsonText))")
        #expect(entries.filter { $0["event"] == "wd" }.isEmpty)
        // The log records who sent each.
        let log = try await daemon.openStore().activity(after: 0, limit: 1_000)
        let senders = log.filter { ["wd", "ws", "d1"].contains($0.id) }.sorted { $0.id < $1.id }.map(\.sender)
        #expect(senders == ["admin:ops", "device:w1", "service:imports"])
    }

    @Test func openModeRefusesToBindBeyondLoopback() throws {
        let wide = try DaemonProcess.checkConfig(["--ingest", "tcp://0.0.0.0:7001"])
        #expect(wide.status == 78 && wide.errors.contains("ingest.endpoint tcp://0.0.0.0:7001 is reachable beyond this host"), "\(wide.errors)")
        let daemon = try DaemonProcess()
        let file = daemon.directory.appendingPathComponent("open.yaml")
        try "security:\n  allow_open_network: true\n".write(to: file, atomically: true, encoding: .utf8)
        let allowed = try DaemonProcess.checkConfig(["--config", file.path, "--ingest", "tcp://0.0.0.0:7001"])
        #expect(allowed.status == 0, "\(allowed.errors)")
        #expect(try DaemonProcess.checkConfig(["--command", "tcp://127.0.0.1:7002"]).status == 0)
        // Malformed keys are located errors.
        let bad = daemon.directory.appendingPathComponent("bad.yaml")
        try """
            security:
              mode: curve
              secret_key_file: /nonexistent/server.key
              services:
                - {name: shop, public_key: "short", events: [profile, "Bad Type"], ops: [balance, fly]}
            """.write(to: bad, atomically: true, encoding: .utf8)
        let refused = try DaemonProcess.checkConfig(["--config", bad.path])
        #expect(refused.status == 78)
        #expect(refused.errors.contains("bad.yaml:5:32: 'public_key': a CurveZMQ key is 40 characters of Z85, not 5"), "\(refused.errors)")
        #expect(refused.errors.contains("'Bad Type'") && refused.errors.contains("'fly'"))
    }
}
