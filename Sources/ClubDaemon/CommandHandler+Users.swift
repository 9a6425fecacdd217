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
