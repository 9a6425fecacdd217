import ClubProtocol
import Events
import Foundation
import Imports
import JSON
import Metrics
import Pipeline
import Storage
import Training
import Users

/// The `workouts` and `import` operations: workouts as the Training subsystem counts them,
/// and workout files from external systems, under the user's consent.
extension CommandHandler {
    /// A user's workouts in `[from, to)` (default: all), with `counted` false for a
    /// recognised copy of another.
    func workouts(_ request: WorkoutsRequest) async -> [UInt8] {
        let user = request.range.user
        let bounds = request.range.bounds
        let list = await runtime.workouts(of: user, from: bounds.from, to: bounds.to)
        return WorkoutsReply(user: user, workouts: list.map { WorkoutSummary($0.workout, counted: $0.counted) }).bytes
    }

    /// Imports a FIT, GPX or TCX file (`data_base64`) for `user` from `system`: each workout
    /// in it becomes a `workout` event (durable, deduplicated, under consent) and its samples
    /// telemetry of device `system`, session = the workout id.
    func importFile(_ request: ImportRequest) async -> [UInt8] {
        guard !Connections.ownSources.contains(request.system) else {
            return CommandError("missing_field", "field 'system' must name the external system, such as garmin or strava").reply
        }
        guard let format = WorkoutFormat(rawValue: request.format) else {
            return CommandError("wrong_type", "field 'format' must be fit, gpx or tcx").reply
        }
        guard let data = Data(base64Encoded: request.dataBase64, options: .ignoreUnknownCharacters), !data.isEmpty else {
            return CommandError("wrong_type", "field 'data_base64' must hold the file, base64-encoded").reply
        }
        let result = await WorkoutImporter(runtime: runtime, maxFileBytes: maxImportFileBytes).run(
            user: request.user, system: request.system, format: format, file: [UInt8](data), sport: request.sport)
        switch result {
        case .failure(let error): return CommandError(error.code, error.message).reply
        case .success(let reply): return reply.bytes
        }
    }

    /// Deletes a user's workouts imported from `system` (typically after revoking the
    /// connection): from the activity log, the leaderboards, the cohorts and the offer facts.
    /// Points already awarded for them stay in the ledger.
    func forgetImports(_ request: ForgetImportsRequest) async -> [UInt8] {
        let (user, system) = (request.user, request.system)
        guard !Connections.ownSources.contains(system) else {
            return CommandError("missing_field", "field 'system' must name the external system whose imports are deleted").reply
        }
        do {
            let deleted = try await runtime.forgetImports(user: user, system: system)
            return ForgetImportsReply(user: user, system: system, deleted: deleted).bytes
        } catch {
            return CommandError("storage_failed", "cannot delete the imported workouts: \(error)").reply
        }
    }
}

extension WorkoutSummary {
    /// A workout as `workouts` lists it; `duplicate` is added for `import` replies.
    init(_ workout: Workout, counted: Bool?, duplicate: Bool? = nil) {
        self.init(
            id: workout.id, source: workout.source, sport: workout.sport, start: Int(workout.start),
            durationSeconds: Double(workout.durationMillis) / 1000, movingSeconds: Double(workout.movingMillis) / 1000,
            distanceMeters: workout.distance, averageHeartRate: workout.averageHeartRate, maxHeartRate: workout.maxHeartRate,
            elevationGainMeters: workout.elevationGain, samples: workout.samples, counted: counted, duplicate: duplicate)
    }
}
