/// The Training subsystem's catalogue: single exercises with their media and targets, and
/// programmes made of them (the contract's "Training" section; files in
/// `training.catalogue_dir`, see docs/training.md). The club keeps media references, never
/// the media.
public struct Catalogue: Sendable, Equatable {
    /// In file order (files by name).
    public private(set) var exercises: [Exercise]
    public private(set) var programmes: [Programme]
    private var exerciseIndex: [String: Int] = [:]
    private var programmeIndex: [String: Int] = [:]

    public init(exercises: [Exercise] = [], programmes: [Programme] = []) {
        self.exercises = exercises
        self.programmes = programmes
        for (i, e) in exercises.enumerated() { exerciseIndex[e.id] = i }
        for (i, p) in programmes.enumerated() { programmeIndex[p.id] = i }
    }

    public func exercise(_ id: String) -> Exercise? { exerciseIndex[id].map { exercises[$0] } }
    public func programme(_ id: String) -> Programme? { programmeIndex[id].map { programmes[$0] } }
    /// Where programme `id` is in ``programmes``: for a look-up that copies nothing out.
    public func programmeIndex(_ id: String) -> Int? { programmeIndex[id] }

    /// One line for logs and `--check-config`.
    public var summary: String { "exercises: \(exercises.count); programmes: \(programmes.count)" }
}

/// A single exercise: what to do, how it is explained (photos, videos) and what it asks.
public struct Exercise: Sendable, Equatable {
    public let id: String
    public let title: String
    /// The sport a workout must have to count for it (`run`, `walk`, `strength` …).
    public let sport: String
    public let category: String
    public let instructions: String
    public let media: [Media]
    public let targets: Targets

    public init(id: String, title: String, sport: String, category: String, instructions: String, media: [Media], targets: Targets) {
        self.id = id
        self.title = title
        self.sport = sport
        self.category = category
        self.instructions = instructions
        self.media = media
        self.targets = targets
    }

    /// A photo or a video explaining an exercise: a reference, with the digest of the file
    /// when the catalogue knows it.
    public struct Media: Sendable, Equatable {
        public enum Kind: String, Sendable, CaseIterable { case photo, video }
        public let kind: Kind
        /// An http(s) URL.
        public let url: String
        /// 64 lower-case hex digits.
        public let sha256: String?

        public init(kind: Kind, url: String, sha256: String?) {
            self.kind = kind
            self.url = url
            self.sha256 = sha256
        }
    }
}

/// A programme: exercises on days of a plan of some weeks.
public struct Programme: Sendable, Equatable {
    public let id: String
    public let title: String
    public let sport: String
    public let weeks: Int
    /// In order of `step`, numbered 1…n, on days that never go back.
    public let steps: [Step]

    public init(id: String, title: String, sport: String, weeks: Int, steps: [Step]) {
        self.id = id
        self.title = title
        self.sport = sport
        self.weeks = weeks
        self.steps = steps
    }

    /// One step: an exercise on a day of the programme, with the targets that apply (the
    /// exercise's, with the step's overrides).
    public struct Step: Sendable, Equatable {
        public let step: Int
        /// 1-based day of the programme.
        public let day: Int
        public let exercise: String
        /// The sport a workout must have (the exercise's).
        public let sport: String
        public let targets: Targets
        /// The targets the step itself sets (listed as the step's overrides).
        public let overrides: Targets

        public init(step: Int, day: Int, exercise: String, sport: String, targets: Targets, overrides: Targets) {
            self.step = step
            self.day = day
            self.exercise = exercise
            self.sport = sport
            self.targets = targets
            self.overrides = overrides
        }
    }
}
