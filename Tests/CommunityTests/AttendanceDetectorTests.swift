import ClubKernel
import Events
import JSON
import Testing

@testable import Community

@Suite struct AttendanceDetectorTests {
    static let start = CommunityStateTests.t0 + 3_600_000  // the session: 01:00–02:00 at (55.75, 37.61), 200 m
    let config = CommunityConfig()

    /// A coached group (owner, coach, members a…e) and its session.
    static func schedule() throws -> SessionSchedule {
        var s = CommunityState()
        _ = try s.apply(CommunityStateTests.created("g", by: "owner", kind: "coached", coach: "coach"), config: CommunityConfig())
        for user in ["a", "b", "c", "d"] { _ = try s.apply(CommunityStateTests.event("group.joined", user, ["group": "g"]), config: CommunityConfig()) }
        _ = try s.apply(CommunityStateTests.scheduled("s1", group: "g", by: "owner", start: start), config: CommunityConfig())
        _ = try s.apply(CommunityStateTests.event("session.rsvp", "a", ["session": "s1", "going": true]), config: CommunityConfig())
        return SessionSchedule(s, now: start, config: CommunityConfig())
    }

    /// A run: a sample every 10 s from `from` for `minutes`, starting `offsetMeters` north of
    /// the place and heading north at `speed` m/s.
    static func run(_ user: String, from: Int64, minutes: Int, offsetMeters: Double = 0, speed: Double = 3) -> [TelemetrySample] {
        (0..<(minutes * 6)).map { i in
            let north = offsetMeters + speed * Double(i * 10)
            return TelemetrySample(
                user: user, device: "d-\(user)", session: "r-\(user)", ts: from + Int64(i) * 10_000, sport: "run",
                latitude: 55.75 + north / 111_195, longitude: 37.61)
        }
    }

    @Test func detectsMembersWhoCameAndMoved() throws {
        let schedule = try Self.schedule()
        var d = AttendanceDetector()
        d.observe(Self.run("a", from: Self.start - 10 * 60_000, minutes: 60), schedule: schedule, config: config, now: 0)  // yes, with rsvp
        d.observe(Self.run("b", from: Self.start, minutes: 60, offsetMeters: 5_000), schedule: schedule, config: config, now: 0)  // never near
        d.observe(Self.run("c", from: Self.start, minutes: 20), schedule: schedule, config: config, now: 0)  // too short
        d.observe(Self.run("d", from: Self.start + 70 * 60_000, minutes: 60), schedule: schedule, config: config, now: 0)  // after the end
        d.observe(Self.run("coach", from: Self.start, minutes: 60), schedule: schedule, config: config, now: 0)
        d.observe(Self.run("stranger", from: Self.start, minutes: 60), schedule: schedule, config: config, now: 0)
        #expect(d.due(now: Self.start + 3_600_000, schedule: schedule, config: config).isEmpty, "decided only after the grace")
        let raised = d.due(now: Self.start + 3_600_000 + config.attendanceGraceMillis, schedule: schedule, config: config)
        #expect(raised.map(\.user) == ["a"])
        let a = try #require(raised.first)
        #expect(a.body["with_coach"]?.boolValue == true)
        #expect(a.body["rsvp"]?.boolValue == true)
        #expect((55...65).contains(a.body["minutes"]?.int64Value ?? 0))
        // Once per member and session.
        d.observe(Self.run("a", from: Self.start, minutes: 5), schedule: schedule, config: config, now: 0)
        #expect(d.due(now: Self.start + 7_200_000, schedule: schedule, config: config).isEmpty)
    }

    @Test func lateTelemetryIsDecidedLater() throws {
        let schedule = try Self.schedule()
        var d = AttendanceDetector()
        let afterGrace = Self.start + 3_600_000 + config.attendanceGraceMillis
        #expect(d.due(now: afterGrace, schedule: schedule, config: config).isEmpty)
        d.observe(Self.run("b", from: Self.start, minutes: 40), schedule: schedule, config: config, now: 0)
        let raised = d.due(now: afterGrace + 86_400_000, schedule: schedule, config: config)
        #expect(raised.map(\.user) == ["b"])
        #expect(raised.first?.body["with_coach"]?.boolValue == false)
    }

    @Test func standingStillIsNotMoving() throws {
        let schedule = try Self.schedule()
        var d = AttendanceDetector()
        d.observe(Self.run("a", from: Self.start, minutes: 60, speed: 0.1), schedule: schedule, config: config, now: 0)
        #expect(d.due(now: Self.start + 86_400_000, schedule: schedule, config: config).isEmpty)
        #expect(d.watched == 1)
    }
}
