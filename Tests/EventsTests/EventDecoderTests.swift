import ClubKernel
import Events
import Testing

@Suite struct EventDecoderTests {
    let now: Int64 = 1_764_237_600_000
    let decoder = EventDecoder()

    func decode(_ text: String) -> DecodedEvents {
        var result = DecodedEvents()
        decoder.decode(frame: Array(text.utf8), now: now, into: &result)
        return result
    }

    func reason(_ text: String) -> String? { decode(text).rejections.first?.reason.code }

    @Test func decodesTheContractExample() throws {
        let result = decode(
            #"{"type":"telemetry","user":"u-17","device":"watch-3","session":"w-2026-11-27-1","ts":1764237600000,"sport":"run","distance_m":1234.5,"hr":142,"speed_mps":3.1,"cadence":84,"power_w":210,"lat":55.7512,"lon":37.6184,"alt_m":151.2,"extra":{"kept":[1]}}"#
        )
        #expect(result.rejections.isEmpty)
        let sample = try #require(result.samples.first)
        #expect(
            sample
                == TelemetrySample(
                    user: "u-17", device: "watch-3", session: "w-2026-11-27-1", ts: 1_764_237_600_000, sport: "run",
                    distance: 1234.5, heartRate: 142, speed: 3.1, cadence: 84, power: 210, latitude: 55.7512,
                    longitude: 37.6184, altitude: 151.2))
    }

    @Test func acceptsRFC3339Time() throws {
        let result = decode(#"{"type":"telemetry","user":"u","device":"d","session":"s","ts":"2025-11-27T12:00:00.250+03:00"}"#)
        #expect(result.samples.first?.ts == 1_764_234_000_250)
    }

    @Test func oneBadElementDoesNotSpoilTheBatch() {
        let result = decode(
            #"[{"type":"telemetry","user":"u","device":"d","session":"s","ts":1764237600000},{"type":"telemetry","user":"u","device":"d","session":"s","ts":1764237600000,"hr":999},7,{"type":"group.joined","id":"g-1","user":"u","group":"g"}]"#
        )
        #expect(result.samples.count == 1)
        #expect(result.events.map(\.type) == ["group.joined"])
        #expect(result.rejections.map(\.reason.code) == ["out_of_range", "not_an_object"])
        #expect(result.rejections.map(\.index) == [1, 2])
    }

    @Test(arguments: [
        (#"{"type":"telemetry""#, "malformed_json"),
        (#"{"type":"telemetry","user":"u","device":"d","session":"s","ts":1764237600000,"hr":NaN}"#, "not_finite"),
        (#"{"type":"telemetry","user":"u","device":"d","session":"s","ts":1764237600000,"hr":1e999}"#, "not_finite"),
        (#"{"type":"telemetry","user":"u","device":"d","session":"s","ts":1764237600000,"hr":-Infinity}"#, "not_finite"),
        (#"{"type":"telemetry","user":"u","device":"d","ts":1764237600000}"#, "missing_field"),
        (#"{"type":"telemetry","user":"u","device":"d","session":"s","ts":1764237600000,"hr":"140"}"#, "wrong_type"),
        (#"{"type":"telemetry","user":7,"device":"d","session":"s","ts":1764237600000}"#, "wrong_type"),
        (#"{"type":"telemetry","user":"u","device":"d","session":"s","ts":1764237600000,"lat":91,"lon":0}"#, "out_of_range"),
        (#"{"type":"telemetry","user":"u","device":"d","session":"s","ts":1764237600000,"speed_mps":-1}"#, "out_of_range"),
        (#"{"type":"telemetry","user":"u","device":"d","session":"s","ts":1764247600000}"#, "future_timestamp"),
        (#"{"type":"telemetry","user":"u","device":"d","session":"s","ts":1764237600}"#, "invalid_timestamp"),
        (#"{"type":"telemetry","user":"u","device":"d","session":"s","ts":"yesterday"}"#, "invalid_timestamp"),
        (#"{"type":"telemetry","user":"ann@example.com","device":"d","session":"s","ts":1764237600000}"#, "personal_data"),
        (#"{"type":"telemetry","user":"u","device":"d","session":"s","ts":1764237600000,"email":"x"}"#, "personal_data"),
        (#"{"type":"profile","id":"p","user":"u","name":"Ann"}"#, "personal_data"),
        (#"{"type":"teleportation","user":"u","id":"x"}"#, "unsupported_type"),
        (#"{"type":"leaderboard.final","user":"u","id":"x","rank":1}"#, "unsupported_type"),
        (#"{"type":"connection","user":"u","id":"x","system":"garmin","state":"maybe"}"#, "out_of_range"),
        (#"{"type":"connection","user":"u","id":"x","state":"active"}"#, "missing_field"),
        (#"{"type":"workout","user":"u","id":"x","sport":"run","start":1764237600000,"duration_s":60}"#, "missing_field"),
        (#"{"type":"group.joined","user":"u"}"#, "missing_field"),
        (#"{"type":"group.joined","user":"u","id":"x"}"#, "missing_field"),
        (#"{"type":"group.joined","user":"u","id":"x","group":7}"#, "wrong_type"),
        (#"{"type":"group.renamed","user":"u","id":"x","group":"g"}"#, "unsupported_type"),
        (#"{"type":"group.created","user":"u","id":"x","group":"g","kind":"club","title":"T"}"#, "out_of_range"),
        (#"{"type":"group.created","user":"u","id":"x","group":"g","kind":"coached","title":"T"}"#, "missing_field"),
        (#"{"type":"group.created","user":"u","id":"x","group":"g","kind":"joint"}"#, "missing_field"),
        (#"{"type":"session.attended","user":"u","id":"x","session":"s","minutes":60}"#, "unsupported_type"),
        (#"{"type":"competition.finished","user":"u","id":"x"}"#, "unsupported_type"),
        (#"{"type":"community.ran_together","user":"u","id":"x"}"#, "unsupported_type"),
        (#"{"type":"session.rsvp","user":"u","id":"x","session":"s","going":"yes"}"#, "wrong_type"),
        (#"{"type":"session.scheduled","user":"u","id":"x","session":"s","group":"g","start":1764237600000,"duration_s":3600,"sport":"run","place":{"lat":95,"lon":0,"radius_m":100}}"#, "out_of_range"),
        (#"{"type":"session.scheduled","user":"u","id":"x","session":"s","group":"g","start":1764237600000,"duration_s":3600,"sport":"run"}"#, "missing_field"),
        (#"{"type":"session.checked_in","user":"u","id":"x","session":"s"}"#, "missing_field"),
        (#"{"type":"discussion.posted","user":"u","id":"x","group":"g","post":"p","text":""}"#, "out_of_range"),
        ("{\"type\":\"discussion.posted\",\"user\":\"u\",\"id\":\"x\",\"group\":\"g\",\"post\":\"p\",\"text\":\"\(String(repeating: "é", count: 2001))\"}", "out_of_range"),
        (#"{"user":"u"}"#, "missing_field"),
        (#"[1]"#, "not_an_object"),
        (#""just a string""#, "not_an_object"),
        ("", "empty_frame"),
        ("\u{1}\u{2}\u{3}garbage", "malformed_json"),
        (String(repeating: "[", count: 40) + String(repeating: "]", count: 40), "too_deep"),
    ])
    func refusesWithASpecificReason(frame: String, expected: String) {
        #expect(reason(frame) == expected, "\(frame)")
    }

    @Test func refusesInvalidUTF8() {
        var result = DecodedEvents()
        decoder.decode(frame: Array(#"{"type":"telemetry","user":""#.utf8) + [0xFF, 0xFE] + Array(#""}"#.utf8), now: now, into: &result)
        #expect(result.rejections.map(\.reason.code) == ["invalid_utf8"])
    }

    @Test func refusesOversizeFrameAndHugeBatch() {
        var limits = EventDecoder.Limits()
        limits.maxFrameBytes = 100
        limits.maxBatchEvents = 3
        let small = EventDecoder(limits: limits)
        var result = DecodedEvents()
        small.decode(frame: [UInt8](repeating: 0x20, count: 101), now: now, into: &result)
        small.decode(frame: Array("[{},{},{},{}]".utf8), now: now, into: &result)
        #expect(result.rejections.map(\.reason.code) == ["frame_too_large", "batch_too_large"])
        #expect(result.rejections[0].message == "frame of 101 bytes exceeds the limit of 100")
    }

    /// Decodes 20,000 copies of `seed` with one to three random bytes changed each; every
    /// frame must be accepted or refused with a reason, and `check` holds for each result.
    func fuzz(_ seed: String, check: (DecodedEvents) -> Void = { _ in }) {
        let seed = Array(seed.utf8)
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            var frame = seed
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                frame[Int.random(in: 0..<frame.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            var result = DecodedEvents()
            decoder.decode(frame: frame, now: now, into: &result)
            #expect(result.acceptedCount + result.rejections.count >= 1)
            check(result)
        }
    }

    /// Mutated telemetry frames never crash the decoder, and every frame is either accepted or
    /// refused with a reason.
    @Test func fuzzedFramesAlwaysGetAnAnswer() {
        fuzz(#"[{"type":"telemetry","user":"u-1","device":"d","session":"s","ts":1764237600000,"hr":140,"lat":55.7,"lon":37.6}]"#)
    }

    /// The same for activity events, which are read as trees and validated apart.
    @Test func fuzzedActivityEventsAlwaysGetAnAnswer() {
        fuzz(
            #"[{"type":"workout","id":"w-1","user":"u-1","source":"device","sport":"run","start":1764237600000,"duration_s":1800,"ts":"2025-11-27T09:20:00Z"},{"type":"bonus.spent","id":"o-1","user":"u-1","points":50}]"#
        ) { result in
            #expect(result.events.allSatisfy { !$0.id.isEmpty && !$0.user.isEmpty && !$0.json.isEmpty })
        }
    }

    /// The community's events: each mutated frame is taken or refused with a reason, and what
    /// is taken holds the fields its type requires.
    @Test func fuzzedCommunityEventsAlwaysGetAnAnswer() {
        fuzz(
            #"[{"type":"session.scheduled","id":"s-1","user":"u-1","session":"tue","group":"g","start":1764237600000,"duration_s":3600,"sport":"run","place":{"lat":55.75,"lon":37.61,"radius_m":150},"capacity":8},{"type":"competition.created","id":"c-1","user":"u-1","competition":"k","title":"K","goal":"fastest","band":[5000,5500],"start":1764237600000,"end":1764241200000,"prizes":[{"ranks":[1,3],"points":50}]},{"type":"discussion.posted","id":"d-1","user":"u-1","group":"g","post":"p","text":"hi","reply_to":"q"}]"#
        ) { result in
            for event in result.events {
                for field in EventDecoder.communityTypes[event.type] ?? [] { #expect(event.body[field]?.stringValue != nil, "\(event.type) without \(field)") }
            }
        }
    }
}

@Suite struct EventTimeTests {
    @Test(arguments: [
        ("2026-11-27T09:20:00Z", Int64(1_795_771_200_000)),
        ("1970-01-01T00:00:00Z", Int64(0)),
        ("2024-02-29T23:59:59.999-00:30", Int64(1_709_252_999_999)),
    ])
    func parsesRFC3339(text: String, expected: Int64) {
        #expect(EventTime.parseRFC3339(text) == expected)
    }

    @Test(arguments: ["2025-02-29T00:00:00Z", "2026-11-27", "2026-11-27T25:00:00Z", "2026-11-27T10:00:00", "2026-11-27T10:00:00.Z"])
    func refusesInvalidRFC3339(text: String) {
        #expect(EventTime.parseRFC3339(text) == nil)
    }
}
