import ClubProtocol
import JSON
import Pipeline
import Training

/// The Training subsystem's query answered from its leaderboard index: `leaderboard` (also on
/// the command thread itself, see ``CommandHandler/handleAtOnce(request:)``). `workouts` is in
/// `CommandHandler+Imports.swift`, beside the import it lists.
extension CommandHandler {
    /// A board's top entries in a period (the current one unless `period` names another, such
    /// as `2026-W48`), and with `user` that user's own rank and value.
    func leaderboard(_ request: LeaderboardRequest) -> [UInt8] {
        do {
            return try runtime.leaderboard(board: request.board, period: request.period, scope: request.region ?? request.group, user: request.user).bytes
        } catch {
            return error.reply
        }
    }
}

/// The catalogue and progress ops: `exercises`, `programmes` and `programme` read the
/// catalogue as last (re)loaded; `progress` asks the training stage.
extension CommandHandler {
    func exercises(_ request: ExercisesRequest) -> [UInt8] {
        let catalogue = runtime.currentCatalogue
        let chosen = catalogue.exercises.filter {
            (request.sport == nil || $0.sport == request.sport) && (request.category == nil || $0.category == request.category)
        }
        return ExercisesReply(exercises: chosen.map(ExerciseInfo.init)).bytes
    }

    func programmes(_ request: ProgrammesRequest) -> [UInt8] {
        ProgrammesReply(
            programmes: runtime.currentCatalogue.programmes.map {
                .init(id: $0.id, title: $0.title, sport: $0.sport, weeks: $0.weeks, steps: $0.steps.count)
            }
        ).bytes
    }

    func programme(_ request: ProgrammeRequest) -> [UInt8] {
        let catalogue = runtime.currentCatalogue
        guard let programme = catalogue.programme(request.programme) else {
            return CommandError("unknown_programme", "no programme '\(request.programme.prefix(64))' in the catalogue (see the 'programmes' op)").reply
        }
        return ProgrammeReply(
            id: programme.id, title: programme.title, sport: programme.sport, weeks: programme.weeks,
            steps: programme.steps.compactMap { step in
                catalogue.exercise(step.exercise).map {
                    .init(step: step.step, day: step.day, exercise: ExerciseInfo($0), targets: TargetValues(step.targets))
                }
            }
        ).bytes
    }

    func progress(_ request: ProgressRequest) async -> [UInt8] { await runtime.progress(of: request.user).bytes }
}

extension ExerciseInfo {
    init(_ e: Exercise) {
        self.init(
            id: e.id, title: e.title, sport: e.sport, category: e.category, instructions: e.instructions,
            media: e.media.map { .init(kind: $0.kind.rawValue, url: $0.url, sha256: $0.sha256) }, targets: TargetValues(e.targets))
    }
}

extension TargetValues {
    init(_ t: Targets) {
        self.init(
            durationSeconds: t.durationSeconds, distanceMeters: t.distanceMeters, reps: t.reps, paceSecondsPerKm: t.paceSecondsPerKm,
            hrZone: t.hrZone)
    }
}
