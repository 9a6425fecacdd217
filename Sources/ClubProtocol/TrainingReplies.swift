import JSON

/// A step's or an exercise's targets as the catalogue states them: only those set.
public struct TargetValues: Sendable, Equatable {
    public var durationSeconds: Double?
    public var distanceMeters: Double?
    public var reps: Int?
    public var paceSecondsPerKm: Double?
    public var hrZone: Int?

    public init(durationSeconds: Double? = nil, distanceMeters: Double? = nil, reps: Int? = nil, paceSecondsPerKm: Double? = nil, hrZone: Int? = nil) {
        self.durationSeconds = durationSeconds
        self.distanceMeters = distanceMeters
        self.reps = reps
        self.paceSecondsPerKm = paceSecondsPerKm
        self.hrZone = hrZone
    }

    func write(into w: inout JSONWriter) {
        w.beginObject()
        if let durationSeconds { w.member("duration_s", durationSeconds) }
        if let distanceMeters { w.member("distance_m", distanceMeters) }
        if let reps { w.member("reps", reps) }
        if let paceSecondsPerKm { w.member("pace_s_per_km", paceSecondsPerKm) }
        if let hrZone { w.member("hr_zone", hrZone) }
        w.endObject()
    }

    init(reading value: JSONValue?) {
        durationSeconds = value?["duration_s"]?.doubleValue
        distanceMeters = value?["distance_m"]?.doubleValue
        reps = value?["reps"]?.int64Value.map { Int($0) }
        paceSecondsPerKm = value?["pace_s_per_km"]?.doubleValue
        hrZone = value?["hr_zone"]?.int64Value.map { Int($0) }
    }
}

/// An exercise as the catalogue holds it (`exercises`, and each step of `programme`).
public struct ExerciseInfo: Sendable, Equatable {
    public struct Media: Sendable, Equatable {
        public var kind: String
        public var url: String
        public var sha256: String?

        public init(kind: String, url: String, sha256: String?) {
            self.kind = kind
            self.url = url
            self.sha256 = sha256
        }
    }

    public var id: String
    public var title: String
    public var sport: String
    public var category: String
    public var instructions: String
    public var media: [Media]
    public var targets: TargetValues

    public init(id: String, title: String, sport: String, category: String, instructions: String, media: [Media], targets: TargetValues) {
        self.id = id
        self.title = title
        self.sport = sport
        self.category = category
        self.instructions = instructions
        self.media = media
        self.targets = targets
    }

    func write(into w: inout JSONWriter) {
        w.beginObject()
        w.member("id", id)
        w.member("title", title)
        w.member("sport", sport)
        w.member("category", category)
        w.member("instructions", instructions)
        w.key("media")
        w.beginArray()
        for m in media {
            w.beginObject()
            w.member("kind", m.kind)
            w.member("url", m.url)
            if let sha256 = m.sha256 { w.member("sha256", sha256) }
            w.endObject()
        }
        w.endArray()
        w.key("targets")
        targets.write(into: &w)
        w.endObject()
    }

    init(reading value: JSONValue) throws(CommandError) {
        let r = ReplyReader(value: value)
        var media: [Media] = []
        for item in try r.array("media") {
            let m = ReplyReader(value: item)
            media.append(Media(kind: try m.string("kind"), url: try m.string("url"), sha256: m.optionalString("sha256")))
        }
        self.init(
            id: try r.string("id"), title: try r.string("title"), sport: try r.string("sport"), category: try r.string("category"),
            instructions: try r.string("instructions"), media: media, targets: TargetValues(reading: value["targets"]))
    }
}

/// The `exercises` reply.
public struct ExercisesReply: Reply, Equatable {
    public var exercises: [ExerciseInfo]

    public init(exercises: [ExerciseInfo]) { self.exercises = exercises }

    public func writeMembers(into w: inout JSONWriter) {
        w.key("exercises")
        w.beginArray()
        for e in exercises { e.write(into: &w) }
        w.endArray()
    }

    public init(reply: JSONValue) throws(CommandError) {
        var list: [ExerciseInfo] = []
        for value in try ReplyReader(value: reply).array("exercises") { list.append(try ExerciseInfo(reading: value)) }
        exercises = list
    }
}

/// The `programmes` reply: each programme with its number of steps.
public struct ProgrammesReply: Reply, Equatable {
    public struct Summary: Sendable, Equatable {
        public var id: String
        public var title: String
        public var sport: String
        public var weeks: Int
        public var steps: Int

        public init(id: String, title: String, sport: String, weeks: Int, steps: Int) {
            self.id = id
            self.title = title
            self.sport = sport
            self.weeks = weeks
            self.steps = steps
        }
    }

    public var programmes: [Summary]

    public init(programmes: [Summary]) { self.programmes = programmes }

    public func writeMembers(into w: inout JSONWriter) {
        w.key("programmes")
        w.beginArray()
        for p in programmes {
            w.beginObject()
            w.member("id", p.id)
            w.member("title", p.title)
            w.member("sport", p.sport)
            w.member("weeks", p.weeks)
            w.member("steps", p.steps)
            w.endObject()
        }
        w.endArray()
    }

    public init(reply: JSONValue) throws(CommandError) {
        var list: [Summary] = []
        for value in try ReplyReader(value: reply).array("programmes") {
            let r = ReplyReader(value: value)
            list.append(
                Summary(id: try r.string("id"), title: try r.string("title"), sport: try r.string("sport"), weeks: try r.int("weeks"), steps: try r.int("steps")))
        }
        programmes = list
    }
}

/// The `programme` reply: a programme with its steps, each with its exercise and the targets
/// that apply to it (the exercise's with the step's overrides).
public struct ProgrammeReply: Reply, Equatable {
    public struct Step: Sendable, Equatable {
        public var step: Int
        public var day: Int
        public var exercise: ExerciseInfo
        public var targets: TargetValues

        public init(step: Int, day: Int, exercise: ExerciseInfo, targets: TargetValues) {
            self.step = step
            self.day = day
            self.exercise = exercise
            self.targets = targets
        }
    }

    public var id: String
    public var title: String
    public var sport: String
    public var weeks: Int
    public var steps: [Step]

    public init(id: String, title: String, sport: String, weeks: Int, steps: [Step]) {
        self.id = id
        self.title = title
        self.sport = sport
        self.weeks = weeks
        self.steps = steps
    }

    public func writeMembers(into w: inout JSONWriter) {
        w.member("id", id)
        w.member("title", title)
        w.member("sport", sport)
        w.member("weeks", weeks)
        w.key("steps")
        w.beginArray()
        for s in steps {
            w.beginObject()
            w.member("step", s.step)
            w.member("day", s.day)
            w.key("exercise")
            s.exercise.write(into: &w)
            w.key("targets")
            s.targets.write(into: &w)
            w.endObject()
        }
        w.endArray()
    }

    public init(reply: JSONValue) throws(CommandError) {
        let r = ReplyReader(value: reply)
        var steps: [Step] = []
        for value in try r.array("steps") {
            let s = ReplyReader(value: value)
            guard let exercise = value["exercise"] else { throw ReplyReader.missing("exercise", "an object") }
            steps.append(
                Step(step: try s.int("step"), day: try s.int("day"), exercise: try ExerciseInfo(reading: exercise), targets: TargetValues(reading: value["targets"])))
        }
        self.init(id: try r.string("id"), title: try r.string("title"), sport: try r.string("sport"), weeks: try r.int("weeks"), steps: steps)
    }
}

/// The `progress` reply: a user's enrolments, each step's state, result and percentile.
public struct ProgressReply: Reply, Equatable {
    public struct Enrolment: Sendable, Equatable {
        public var programme: String
        /// `active`, `paused`, `left`, `completed`, or `ended` (every step settled, the last missed).
        public var state: String
        /// The user's nth enrolment in this programme (a new enrolment starts over).
        public var number: Int
        /// Epoch ms of day 1.
        public var start: Int
        /// Time spent paused, by which the open steps' days moved.
        public var pausedSeconds: Double
        public var steps: [Step]

        public init(programme: String, state: String, number: Int, start: Int, pausedSeconds: Double, steps: [Step]) {
            self.programme = programme
            self.state = state
            self.number = number
            self.start = start
            self.pausedSeconds = pausedSeconds
            self.steps = steps
        }
    }

    public struct Step: Sendable, Equatable {
        public var step: Int
        public var day: Int
        /// `done`, `missed` or `open`.
        public var state: String
        public var workout: String?
        public var result: Double?
        public var percentile: Double?
        /// [`from`, `to`) epoch ms: when a workout can fulfil the step (its day ± 1, shifted by pauses).
        public var from: Int
        public var to: Int

        public init(step: Int, day: Int, state: String, workout: String?, result: Double?, percentile: Double?, from: Int, to: Int) {
            self.step = step
            self.day = day
            self.state = state
            self.workout = workout
            self.result = result
            self.percentile = percentile
            self.from = from
            self.to = to
        }
    }

    public var user: String
    public var programmes: [Enrolment]

    public init(user: String, programmes: [Enrolment]) {
        self.user = user
        self.programmes = programmes
    }

    public func writeMembers(into w: inout JSONWriter) {
        func optional(_ key: String, _ value: Double?) {
            w.key(key)
            if let value { w.value(value) } else { w.null() }
        }
        w.member("user", user)
        w.key("programmes")
        w.beginArray()
        for e in programmes {
            w.beginObject()
            w.member("programme", e.programme)
            w.member("state", e.state)
            w.member("number", e.number)
            w.member("start", e.start)
            w.member("paused_s", e.pausedSeconds)
            w.key("steps")
            w.beginArray()
            for s in e.steps {
                w.beginObject()
                w.member("step", s.step)
                w.member("day", s.day)
                w.member("state", s.state)
                w.key("workout")
                if let workout = s.workout { w.value(workout) } else { w.null() }
                optional("result", s.result)
                optional("percentile", s.percentile)
                w.member("from", s.from)
                w.member("to", s.to)
                w.endObject()
            }
            w.endArray()
            w.endObject()
        }
        w.endArray()
    }

    public init(reply: JSONValue) throws(CommandError) {
        let r = ReplyReader(value: reply)
        var enrolments: [Enrolment] = []
        for value in try r.array("programmes") {
            let e = ReplyReader(value: value)
            var steps: [Step] = []
            for item in try e.array("steps") {
                let s = ReplyReader(value: item)
                steps.append(
                    Step(
                        step: try s.int("step"), day: try s.int("day"), state: try s.string("state"), workout: s.optionalString("workout"),
                        result: item["result"]?.doubleValue, percentile: item["percentile"]?.doubleValue, from: try s.int("from"),
                        to: try s.int("to")))
            }
            enrolments.append(
                Enrolment(
                    programme: try e.string("programme"), state: try e.string("state"), number: try e.int("number"),
                    start: try e.int("start"), pausedSeconds: try e.double("paused_s"), steps: steps))
        }
        self.init(user: try r.string("user"), programmes: enrolments)
    }
}
