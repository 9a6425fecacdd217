import ClubKernel
import ClubProtocol
import ClubRuntime
import Events
import Imports
import JSON
import Metrics
import Pipeline
import Storage
import Training

/// Imports one workout file for a user from an external system: decodes it, turns each
/// workout into a `workout` event and its samples into telemetry, and makes them durable in
/// one `submit` transaction, where consent and duplicates are decided. Used by the `import`
/// op and the drop folder.
struct WorkoutImporter {
    let runtime: PipelineRuntime
    /// Largest file taken (`imports.max_file_bytes`).
    let maxFileBytes: Int

    /// - Returns: the `import` reply, or why not.
    func run(user: String, system: String, format: WorkoutFormat, file: [UInt8], sport: String?) async -> Result<ImportReply, ImportError> {
        let result = await importing(user: user, system: system, format: format, file: file, sport: sport)
        if case .failure(let error) = result {
            Counter(label: "clubd_imports_refused_total", dimensions: [("reason", error.code)]).increment()
        }
        return result
    }

    private func importing(user: String, system: String, format: WorkoutFormat, file: [UInt8], sport: String?) async -> Result<ImportReply, ImportError> {
        guard file.count <= maxFileBytes else {
            return .failure(
                ImportError("file_too_large", "the file has \(file.count) bytes; imports.max_file_bytes allows \(maxFileBytes)"))
        }
        let imported: [ImportedWorkout]
        do {
            imported = try ImportedWorkout.decode(file, format: format)
        } catch {
            return .failure(error)
        }
        let now = Clock.nowMillis()
        let fingerprint = WorkoutImport.fingerprint(user: user, file: file)
        var events: [ClubEvent] = []
        var counts: [Workout] = []
        var samples: [TelemetrySample] = []
        for (index, workout) in imported.enumerated() {
            let id = "\(system):\(fingerprint)" + (imported.count > 1 ? "-\(index + 1)" : "")
            let json = WorkoutImport.event(workout, id: id, user: user, system: system, format: format, sport: sport)
            let decoded = runtime.decode(json, now: now)
            guard let event = decoded.events.first else {
                let reason = decoded.rejections.first
                return .failure(ImportError(reason?.reason.code ?? "invalid_file", reason?.message ?? "the file's workout is not valid"))
            }
            // What the training stage would refuse is refused here, with its reason, rather
            // than logged as durable and then left out of the user's workouts.
            switch Workout.from(event.body, offset: 0) {
            case .success(let counted): counts.append(counted)
            case .failure(let error): return .failure(ImportError(error.reason.code, "the file's workout is not plausible: \(error.message)"))
            }
            events.append(event)
            samples += WorkoutImport.samples(workout, id: id, user: user, system: system)
        }
        var journal = JSONWriter(capacity: 160 * samples.count)
        journal.beginArray()
        for sample in samples { sample.write(to: &journal) }
        journal.endArray()
        let appended: [AppendOutcome]
        do {
            appended = try await runtime.submit(samples, payload: journal.bytes, events: events, receivedAt: now)
        } catch is CancellationError {
            return .failure(ImportError("shutting_down", "the daemon is shutting down; retry after it restarts"))
        } catch {
            return .failure(ImportError("storage_failed", "the import could not be made durable: \(error)"))
        }
        if case .refused(let reason, let message) = appended.first {
            await runtime.publishRejections(PipelineRuntime.refusals(appended, events), source: "import")
            return .failure(ImportError(reason.code, message))
        }
        let counted = await countedState(of: events.map(\.id), user: user)
        let workouts = zip(counts, appended).map { workout, outcome in
            WorkoutSummary(workout, counted: counted[workout.id], duplicate: outcome == .duplicate)
        }
        return .success(ImportReply(user: user, samples: samples.count, workouts: workouts))
    }

    /// Whether the training stage counts each workout, waiting up to 2 s for it to apply them.
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
