import ClubKernel
import ClubProtocol
import ClubRuntime
import JSON
import Training

/// Programmes in the training stage: enrolment events move ``ProgrammeProgress``, counted
/// workouts fulfil steps, and the user's event time and the daemon's clock miss them. What
/// progress raises becomes `training.step_completed`, `training.step_missed` and
/// `training.programme_completed` activity events whose ids follow from what they describe
/// (user, programme, enrolment number, step), so a replay raises duplicates, not new events.
extension TrainingStage {
    /// Applies an enrolment event; one that cannot apply is published on `rejected`.
    func applyProgrammeEvent(_ record: ActivityEvent, messages: inout [Publisher.Message]) {
        let body = record.body
        guard let id = body["programme"]?.stringValue else { return }  // checked at ingest
        do throws(ProgrammeProgress.Refusal) {
            switch record.type {
            case "programme.enrolled":
                guard let programme = config.catalogue.programme(id) else {
                    throw ProgrammeProgress.Refusal(.unknownProgramme, "no programme '\(id)' in the catalogue")
                }
                guard let start = body["start"].flatMap(EventTime.millis) else {
                    throw ProgrammeProgress.Refusal(.invalidTimestamp, "field 'start' must be epoch milliseconds or an RFC 3339 time")
                }
                progress.enrol(user: record.user, in: programme, start: start)
            case "programme.paused": try progress.pause(user: record.user, programme: id, at: record.at)
            case "programme.resumed": try progress.resume(user: record.user, programme: id, at: record.at, catalogue: config.catalogue)
            default: try progress.leave(user: record.user, programme: id)
            }
        } catch {
            messages.append(Self.rejected(record, error.reason, error.message))
        }
    }

    /// Workouts that started counting fulfil steps (and move their users' event time).
    func progressed(by counted: [Workout], raised: inout [ActivityEvent]) {
        for workout in counted {
            raised += progress.counted(workout, catalogue: config.catalogue, maxHeartRate: self.state.maxHeartRate(of: workout.user)).map(Self.event)
        }
    }

    /// Misses the steps the daemon's clock has passed by more than `training.missed_grace`,
    /// committed with the state in one transaction with their events (kept for the next commit
    /// if this one fails): a clock decision is not a function of the log, so it must not be
    /// made twice, differently, after a crash.
    func expireSteps(now: Int64) async throws {
        let outcomes = progress.expire(now: now, grace: config.missedGraceMillis, catalogue: config.catalogue)
        guard !outcomes.isEmpty else { return }
        logger.info("programme steps missed by the clock", metadata: ["steps": "\(outcomes.count)"])
        clockRaised += outcomes.map(Self.event)
        try await commit()
    }

    /// The activity event of an outcome, written in one buffer (one is raised for most counted
    /// workouts of enrolled users).
    static func event(_ outcome: ProgrammeProgress.Outcome) -> ActivityEvent {
        switch outcome {
        case .stepCompleted(let user, let e, let step, let workout, let result):
            return .raised(
                "training.step_completed", id: "step:\(user):\(e.programme):\(e.number):\(step.step):done", user: user, at: workout.end
            ) { w in
                w.member("user", user)
                w.member("programme", e.programme)
                w.member("step", step.step)
                w.member("workout", workout.id)
                w.key("result")
                if let result { w.value(result) } else { w.null() }
                w.member("exercise", step.exercise)
                w.member("day", step.day)
                w.member("sport", workout.sport)
                w.member("enrolment", e.number)
            }
        case .stepMissed(let user, let e, let step, let at):
            return .raised("training.step_missed", id: "step:\(user):\(e.programme):\(e.number):\(step.step):missed", user: user, at: at) { w in
                w.member("user", user)
                w.member("programme", e.programme)
                w.member("step", step.step)
                w.member("exercise", step.exercise)
                w.member("day", step.day)
                w.member("enrolment", e.number)
            }
        case .programmeCompleted(let user, let e, let done, let missed, let at):
            return .raised("training.programme_completed", id: "programme:\(user):\(e.programme):\(e.number):completed", user: user, at: at) { w in
                w.member("user", user)
                w.member("programme", e.programme)
                w.member("enrolment", e.number)
                w.member("steps_done", done)
                w.member("steps_missed", missed)
            }
        }
    }

    /// The `progress` reply: the user's enrolments with each step's state and percentile.
    func progressReply(of user: String) -> ProgressReply {
        let enrolments = progress.enrolments[user] ?? []
        return ProgressReply(
            user: user,
            programmes: enrolments.map { e in
                let programme = config.catalogue.programme(e.programme)
                let percentiles = progress.percentiles(user: user, programme: e.programme)
                return ProgressReply.Enrolment(
                    programme: e.programme, state: e.state.rawValue, number: e.number, start: Int(e.start),
                    pausedSeconds: Double(e.shift) / 1000,
                    steps: e.steps.enumerated().map { i, s in
                        let day = programme.flatMap { i < $0.steps.count ? $0.steps[i].day : nil } ?? 0
                        let window = e.window(day: day)
                        return ProgressReply.Step(
                            step: i + 1, day: day, state: s.state.rawValue, workout: s.workout, result: s.result,
                            percentile: i < percentiles.count ? percentiles[i] : nil, from: Int(window.lowerBound), to: Int(window.upperBound))
                    })
            })
    }
}

