/// The fields of the event types clubd knows, so that a condition naming a field such an
/// event never has (a typo) is refused at load time. Fields of other event types are `any`.
public struct EventSchema: Sendable {
    /// Fields every event has.
    static let common: [String: ValueType] = ["type": .string, "id": .string, "user": .string, "ts": .number]

    static let known: [String: [String: ValueType]] = [
        "workout": [
            "source": .string, "sport": .string, "gear": .string, "start": .number, "duration_s": .number,
            "distance_m": .number, "moving_time_s": .number, "avg_hr": .number, "max_hr": .number,
            "elevation_gain_m": .number,
        ],
        "workout.finished": [
            "pipeline": .string, "window": .string, "sport": .string, "start": .number, "end": .number,
            "samples": .number, "distance_m": .number, "moving_time_s": .number, "avg_hr": .number, "max_hr": .number,
            "avg_speed_mps": .number, "elevation_gain_m": .number, "avg_cadence": .number, "avg_power_w": .number,
            "first_ts": .number, "last_ts": .number,
        ],
        "record.personal": [
            "device": .string, "session": .string, "distance_m": .number, "time_s": .number, "previous_s": .number,
        ],
        "training.compared": [
            "workout": .string, "sport": .string, "band": .string, "scope": .string, "start": .number,
            "distance_m": .number, "result_s": .number, "rank": .number, "cohort_size": .number,
            "percentile": .number, "cohort_median_s": .number, "cohort_best_s": .number,
            "personal_best_s": .number, "difference_s": .number,
        ],
        "leaderboard.final": [
            "board": .string, "metric": .string, "period": .string, "scope": .string, "rank": .number,
            "value": .number, "ranked": .number,
        ],
        "profile": ["region": .string, "interests": .list(.string)],
        "connection": ["system": .string, "state": .string],
        "bonus.spent": ["points": .number],
    ]

    /// The event types a condition is evaluated for.
    public let types: [String]

    public init(types: [String]) { self.types = types }

    /// The type of `event.<field>`, or why the field cannot be read.
    func type(of field: String) -> Result<ValueType, FieldProblem> {
        if let type = Self.common[field] { return .success(type) }
        var found: ValueType?
        for eventType in types {
            guard let fields = Self.known[eventType] else { return .success(.any) }
            guard let type = fields[field] else {
                return .failure(FieldProblem(eventType: eventType, known: (Array(fields.keys) + Array(Self.common.keys)).sorted()))
            }
            found = found == nil || found == type ? type : .any
        }
        return .success(found ?? .any)
    }

    struct FieldProblem: Error {
        let eventType: String
        let known: [String]
    }
}
