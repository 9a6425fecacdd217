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
    func workouts(_ request: JSONObject) async -> [UInt8] {
        let user: String
        do { user = try requiredUser(request) } catch { return error.reply }
        let bounds: [Int64]
        do { bounds = try timeBounds(request) } catch { return error.reply }
        let list = await runtime.workouts(of: user, from: bounds[0], to: bounds[1])
        return WorkoutsReply(user: user, workouts: list.map { Self.summary($0.workout, counted: $0.counted) }).bytes
    }

    /// One workout as `workouts` lists it; `duplicate` is added for `import` replies.
    static func summary(_ workout: Workout, counted: Bool?, duplicate: Bool? = nil) -> WorkoutSummary {
        WorkoutSummary(
            id: workout.id, source: workout.source, sport: workout.sport, start: Int(workout.start),
            durationSeconds: Double(workout.durationMillis) / 1000, movingSeconds: Double(workout.movingMillis) / 1000,
            distanceMeters: workout.distance, averageHeartRate: workout.averageHeartRate, maxHeartRate: workout.maxHeartRate,
            elevationGainMeters: workout.elevationGain, samples: workout.samples, counted: counted, duplicate: duplicate)
    }

    /// Imports a FIT, GPX or TCX file (`data_base64`) for `user` from `system`: each workout
    /// in it becomes a `workout` event (durable, deduplicated, under consent) and its samples
    /// telemetry of device `system`, session = the workout id.
    func importFile(_ request: JSONObject) async -> [UInt8] {
        let user: String
        do { user = try requiredUser(request) } catch { return error.reply }
        guard let system = request["system"]?.stringValue, !system.isEmpty, system.count <= 64,
            !Connections.ownSources.contains(system)
        else {
            return CommandError("missing_field", "field 'system' must name the external system, such as garmin or strava").reply
        }
        guard let format = request["format"]?.stringValue.flatMap(WorkoutFormat.init(rawValue:)) else {
            return CommandError("wrong_type", "field 'format' must be fit, gpx or tcx").reply
        }
        guard let text = request["data_base64"]?.stringValue, let data = Data(base64Encoded: text, options: .ignoreUnknownCharacters),
            !data.isEmpty
        else {
            return CommandError("wrong_type", "field 'data_base64' must hold the file, base64-encoded").reply
        }
        let result = await WorkoutImporter(runtime: runtime, maxFileBytes: maxImportFileBytes).run(
            user: user, system: system, format: format, file: [UInt8](data), sport: request["sport"]?.stringValue)
        switch result {
        case .failure(let error): return CommandError(error.code, error.message).reply
        case .success(let reply): return reply.bytes
        }
    }

    /// Deletes a user's workouts imported from `system` (typically after revoking the
    /// connection): from the activity log, the leaderboards, the cohorts and the offer facts.
    /// Points already awarded for them stay in the ledger.
    func forgetImports(_ request: JSONObject) async -> [UInt8] {
        let user: String
        do { user = try requiredUser(request) } catch { return error.reply }
        guard let system = request["system"]?.stringValue, !system.isEmpty, !Connections.ownSources.contains(system) else {
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
