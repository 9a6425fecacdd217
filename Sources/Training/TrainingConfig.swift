import Definitions
import Foundation
import Yams

/// The Training subsystem's settings and leaderboards, declared in the one `Pipelines/*.yaml`
/// file that has a `leaderboards` key (see `Pipelines/leaderboards.yaml`, docs/training.md).
public struct TrainingConfig: Sendable, Equatable, DefinitionFile {
    public var timeZone = TimeZone(identifier: "UTC")! {
        didSet { calendar = Period.calendar(in: timeZone) }
    }
    /// The ISO calendar of `timeZone`, for period keys.
    public private(set) var calendar = Period.calendar(in: TimeZone(identifier: "UTC")!)
    /// Sources in the order in which one copy of an activity beats another.
    public var sourcePriority = ["device", "garmin", "polar", "suunto", "coros", "apple", "strava", "telemetry"]
    /// Activity event type of finished telemetry sessions (the sessions pipeline raises it).
    public var sessionEventType = "workout.finished"
    /// Least time between two publications of one board's standings.
    public var publishIntervalMillis: Int64 = 1000
    public var boards: [LeaderboardSpec] = []
    public var comparisons = ComparisonSpec()
    /// Distances (metres) of the fastest efforts within device sessions that become
    /// `record.personal` activity events when they beat the user's best.
    public var recordDistances: [Double] = [1000, 5000, 10000]
    /// A device session ends for its records when none of its samples arrived for this long on
    /// the daemon's clock (`personal_records_idle`).
    public var recordIdleMillis: Int64 = 120_000
    /// Exercises and programmes (`training.catalogue_dir` of the daemon's configuration).
    public var catalogue = Catalogue()
    /// How long after the end of a step's day + 1 the daemon's clock misses a step that the
    /// user's own event time has not passed (`training.missed_grace`): late imports count until then.
    public var missedGraceMillis: Int64 = 7 * 86_400_000

    public init() {}

    /// Reads the leaderboards file among the pipeline files (see `PipelineLoader.read`), if
    /// there is one; the other files are the pipeline loader's.
    /// - Throws: ``DefinitionErrors`` locating every mistake.
    public static func load(files: [(name: String, text: String)]) throws -> TrainingConfig {
        let found = files.compactMap { file -> YAMLMapping? in
            guard case .success(let mapping) = YAMLMapping.parse(file.text, file: file.name), mapping.has("leaderboards") else {
                return nil  // not a leaderboards file: the pipeline loader reports its mistakes
            }
            return mapping
        }
        guard var first = found.first else { return TrainingConfig() }
        if found.count > 1 {
            throw DefinitionErrors([
                DefinitionError(file: found[1].file, line: 1, column: 1, message: "leaderboards are declared in one file; \(first.file) has them already")
            ])
        }
        return try parse(&first)
    }

    public static let fileDescription = "leaderboards file"

    /// Reads the leaderboards file's settings and boards.
    public static func parse(_ m: inout YAMLMapping) throws -> TrainingConfig {
        var c = TrainingConfig()
        _ = m.string("name")
        if let zone = m.timeZone("time_zone") { c.timeZone = zone }
        if let sources = m.names("source_priority", expected: "sources such as device, garmin or telemetry", valid: { !$0.isEmpty }) {
            c.sourcePriority = sources
        }
        c.publishIntervalMillis = m.duration("publish_interval", default: c.publishIntervalMillis, min: 10)
        if let node = m.node("personal_records") {
            let distances = node.array().compactMap(\.float)
            if distances.count != node.array().count || distances.contains(where: { $0 <= 0 || $0 > 1e6 }) {
                m.fail("'personal_records' is a list of distances in metres, such as [1000, 5000, 10000]", at: node)
            }
            c.recordDistances = distances
        }
        c.recordIdleMillis = m.duration("personal_records_idle", default: c.recordIdleMillis, min: 1_000)
        if var comparisons = m.nested("comparisons") {
            c.comparisons = ComparisonSpec.parse(&comparisons)
            m.absorb(comparisons)
        }
        var ids: Set<String> = []
        for var board in m.mappings("leaderboards", element: "leaderboard with id, metric and period") ?? [] {
            if let spec = leaderboard(&board) {
                if ids.insert(spec.id).inserted { c.boards.append(spec) } else {
                    board.fail("leaderboard id '\(spec.id)' is used twice", at: board.node("id"))
                }
            }
            m.absorb(board)
        }
        m.rejectUnknownKeys()
        guard m.errors.isEmpty else { throw DefinitionErrors(m.errors) }
        return c
    }

    private static func leaderboard(_ m: inout YAMLMapping) -> LeaderboardSpec? {
        let id = m.string("id", required: true) ?? ""
        if m.has("id"), id.isEmpty || !id.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) {
            m.fail("'id' may hold letters, digits, '-' and '_' only (it names the topic leaderboard.<id>)", at: m.node("id"))
        }
        let metricName = m.string("metric", required: true) ?? ""
        let metric = LeaderboardSpec.Metric(rawValue: metricName)
        if m.has("metric"), metric == nil {
            m.fail(
                "unknown metric '\(metricName)': expected \(LeaderboardSpec.Metric.allCases.map(\.rawValue).joined(separator: ", "))",
                at: m.node("metric"))
        }
        let periodName = m.string("period", required: true) ?? ""
        let period = Period(rawValue: periodName)
        if m.has("period"), period == nil {
            m.fail("unknown period '\(periodName)': expected \(Period.allCases.map(\.rawValue).joined(separator: ", "))", at: m.node("period"))
        }
        let scope = self.scope(&m)
        let sport = m.string("sport")
        var band: ClosedRange<Double>?
        if let node = m.node("band") {
            let bounds = node.array().compactMap(\.float)
            if bounds.count == 2, bounds[0] >= 0, bounds[0] < bounds[1] { band = bounds[0]...bounds[1] } else {
                m.fail("'band' is [min_m, max_m] with 0 <= min < max", at: node)
            }
        }
        if metric == .bestTime, band == nil, !m.has("band") { m.fail("metric best_time needs a distance 'band: [min_m, max_m]'") }
        if metric != .bestTime, m.has("band") { m.fail("'band' applies to metric best_time only", at: m.node("band")) }
        let size = m.int("size", default: 100, in: 1...10_000)
        guard let metric, let period, let scope, !id.isEmpty, m.errors.isEmpty else { return nil }
        return LeaderboardSpec(id: id, metric: metric, period: period, scope: scope, sport: sport, band: band, size: size)
    }

    private static func scope(_ m: inout YAMLMapping) -> LeaderboardSpec.Scope? {
        guard let node = m.node("scope") else { return .everyone }
        switch node {
        case .scalar(let scalar) where scalar.string == "everyone": return .everyone
        case .scalar(let scalar) where scalar.string == "each_region": return .eachRegion
        case .scalar(let scalar) where scalar.string == "each_group": return .eachGroup
        case .mapping:
            var inner = YAMLMapping(file: m.file, node: node)
            var result: LeaderboardSpec.Scope?
            if let region = inner.string("region") {
                result = .region(region)
            } else if let users = inner.node("users") {
                let ids = users.array().compactMap(\.string)
                if ids.isEmpty { inner.fail("'users' is a non-empty list of user ids", at: users) } else { result = .users(Set(ids)) }
            } else {
                inner.fail("a scope mapping holds 'region: <code>' or 'users: [ids]'")
            }
            m.absorb(inner)
            return result
        default:
            m.fail("'scope' is everyone, each_region, each_group, {region: <code>} or {users: [ids]}", at: node)
            return nil
        }
    }
}
