import ClubProtocol
import Pipeline
import Users

/// The User subsystem's ops: `devices` from the devices' admission gate (always as far as the
/// log), `gear` from the training stage, which keeps the gear beside the counted workouts.
extension CommandHandler {
    /// A user's devices, as the log has them (read from the devices' admission gate).
    func devicesOf(_ request: DevicesRequest) -> [UInt8] {
        DevicesReply(
            user: request.user,
            devices: devices.devices(of: request.user).map {
                .init(device: $0.id, kind: $0.kind, registeredAt: Int($0.registeredAt), retired: $0.retired)
            }
        ).bytes
    }

    /// A user's gear and its mileage, as far as the training stage has applied the log.
    func gearOf(_ request: GearRequest) async -> [UInt8] {
        GearReply(
            user: request.user,
            gear: await runtime.gear(of: request.user).map {
                .init(
                    gear: $0.id, kind: $0.kind, title: $0.title, sports: $0.sports, distance: $0.distance, durationSeconds: $0.durationSeconds,
                    workouts: $0.workouts, retireAt: $0.retireAt, retired: $0.retiredAt != nil)
            }
        ).bytes
    }
}

extension CommandHandler {
    /// A user's telemetry history at one resolution: storage with what the history stage
    /// holds beyond its last commit.
    func historyOf(_ request: HistoryRequest) async -> [UInt8] {
        guard let resolution = HistoryResolution(rawValue: request.resolution) else {
            return CommandError("unknown_resolution", "resolution '\(request.resolution)'").reply
        }
        let bounds = request.range.bounds
        let page: PipelineRuntime.HistoryPage?
        do {
            page = try await runtime.history(of: request.range.user, from: bounds.from, to: bounds.to, resolution: resolution, limit: request.limit)
        } catch {
            return CommandError.storageFailed("cannot read the history", error).reply
        }
        guard let page else {
            return CommandError("history_disabled", "this daemon keeps no telemetry history (history.enabled: false)").reply
        }
        return HistoryReply(
            user: request.range.user, resolution: request.resolution,
            samples: page.samples,
            rollups: page.rollups.map {
                .init(
                    start: Int($0.start), end: Int($0.end), samples: $0.rollup.samples, distance: $0.rollup.distance,
                    movingTime: Double($0.rollup.movingMillis) / 1000, averageHeartRate: $0.rollup.averageHeartRate,
                    maxHeartRate: $0.rollup.maxHeartRate)
            },
            nextFrom: page.nextFrom.map { Int($0) }
        ).bytes
    }
}
