import Events
import Foundation
import Imports
import JSON
import Metrics
import Pipeline
import Storage
import Training

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
        return ok { w in
            w.member("user", user)
            w.key("workouts")
            w.beginArray()
            for (workout, counted) in list { Self.write(workout, counted: counted, into: &w) }
            w.endArray()
        }
    }

    static func write(_ workout: Workout, counted: Bool?, into w: inout JSONWriter) {
        func optional(_ key: String, _ value: Double?) {
            w.key(key)
            if let value { w.value(value) } else { w.null() }
        }
        w.beginObject()
        w.member("id", workout.id)
        w.member("source", workout.source)
        w.member("sport", workout.sport)
        w.member("start", Int(workout.start))
        w.member("duration_s", Double(workout.durationMillis) / 1000)
        w.member("moving_time_s", Double(workout.movingMillis) / 1000)
        w.member("distance_m", (workout.distance * 100).rounded() / 100)
        optional("avg_hr", workout.averageHeartRate)
        optional("max_hr", workout.maxHeartRate)
        w.member("elevation_gain_m", (workout.elevationGain * 100).rounded() / 100)
        w.key("samples")
        if let samples = workout.samples { w.value(samples) } else { w.null() }
        w.key("counted")
        if let counted { w.value(counted) } else { w.null() }
        w.endObject()
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
            return CommandReply.error("missing_field", "field 'system' must name the external system, such as garmin or strava")
        }
        guard let format = request["format"]?.stringValue.flatMap(WorkoutFormat.init(rawValue:)) else {
            return CommandReply.error("wrong_type", "field 'format' must be fit, gpx or tcx")
        }
        guard let text = request["data_base64"]?.stringValue, let data = Data(base64Encoded: text, options: .ignoreUnknownCharacters),
            !data.isEmpty
        else {
            return CommandReply.error("wrong_type", "field 'data_base64' must hold the file, base64-encoded")
        }
        let file = [UInt8](data)
        let imported: [ImportedWorkout]
        do {
            imported = try ImportedWorkout.decode(file, format: format)
        } catch {
            Counter(label: "clubd_imports_refused_total", dimensions: [("reason", error.code)]).increment()
            return CommandReply.error(error.code, error.message)
        }
        let now = Clock.nowMillis()
        let fingerprint = WorkoutImport.fingerprint(user: user, file: file)
        var events: [ClubEvent] = []
        var samples: [TelemetrySample] = []
        for (index, workout) in imported.enumerated() {
            let id = "\(system):\(fingerprint)" + (imported.count > 1 ? "-\(index + 1)" : "")
            let json = WorkoutImport.event(workout, id: id, user: user, system: system, format: format, sport: request["sport"]?.stringValue)
            let decoded = runtime.decode(json, now: now)
            guard let event = decoded.events.first else {
                let reason = decoded.rejections.first
                return CommandReply.error(reason?.reason.code ?? "invalid_file", reason?.message ?? "the file's workout is not valid")
            }
            events.append(event)
            samples += WorkoutImport.samples(workout, id: id, user: user, system: system)
        }
        var journal = JSONWriter(capacity: 160 * samples.count)
        journal.beginArray()
        for sample in samples { sample.write(to: &journal) }
        journal.endArray()
        let appended: [ClubStore.Appended]
        do {
            appended = try await runtime.submit(samples, payload: journal.bytes, events: events, receivedAt: now)
        } catch is CancellationError {
            return CommandReply.error("shutting_down", "the daemon is shutting down; retry after it restarts")
        } catch {
            return CommandReply.error("storage_failed", "the import could not be made durable: \(error)")
        }
        if case .refused(let message) = appended.first {
            await runtime.publishRejections(PipelineRuntime.refusals(appended, events), source: "import")
            return CommandReply.error(RejectReason.noConsent.code, message)
        }
        let counted = await countedState(of: events.map(\.id), user: user)
        return ok { w in
            w.member("user", user)
            w.member("samples", samples.count)
            w.key("workouts")
            w.beginArray()
            for (event, outcome) in zip(events, appended) {
                guard case .success(let workout) = Workout.from(event.body, offset: 0) else { continue }
                var members = JSONWriter()
                Self.write(workout, counted: counted[event.id], into: &members)
                w.raw(members.bytes.dropLast() + Array(#","duplicate":\#(outcome == .duplicate)}"#.utf8))
            }
            w.endArray()
        }
    }

    /// Whether the training stage counts each workout, waiting briefly for it to apply them.
    private func countedState(of ids: [String], user: String) async -> [String: Bool] {
        for _ in 0..<100 {
            let known = await runtime.workouts(of: user, from: Int64.min / 4, to: Int64.max / 4)
            let found = Dictionary(known.map { ($0.workout.id, $0.counted) }, uniquingKeysWith: { a, _ in a })
            if ids.allSatisfy({ found[$0] != nil }) { return found }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return [:]
    }
}
