import ClubKernel
import ClubRuntime
import Community
import Foundation
import Logging
import Metrics

/// The Community subsystem's part of the runtime: attendance decided on the telemetry loop,
/// and the queries its ops answer from the community stage.
extension PipelineRuntime {
    /// The snapshot parts holding the attendance and running-together detectors.
    static let attendancePart = "community.attendance"
    static let togetherPart = "community.together"

    /// A detector's state from its snapshot part; nil (it starts empty) when there is none or
    /// it cannot be read (a warning: what it was following is lost, nothing else).
    static func restore<T: Decodable>(_ type: T.Type, _ saved: [UInt8]?, logger: Logger) -> T? {
        guard let saved else { return nil }
        do {
            return try JSONDecoder().decode(type, from: Data(saved))
        } catch {
            logger.warning("community detector state unreadable; it starts empty", metadata: ["type": "\(type)", "error": "\(error)"])
            return nil
        }
    }

    /// Decides the sessions whose end the clock has passed and the tracks that ended (the
    /// ticker calls it): `session.attended` and `community.ran_together` join the log, with
    /// the closed windows' raised events.
    func decideCommunity() async {
        let now = Clock.nowMillis()
        let quiet = inboxIsEmpty
        let (attended, ranTogether) = await detectors.due(now: now, quiet: quiet)
        guard !attended.isEmpty || !ranTogether.isEmpty else { return }
        Counter(label: "clubd_attendance_detected_total").increment(by: Int64(attended.count))
        Counter(label: "clubd_ran_together_total").increment(by: Int64(ranTogether.count))
        appendRaised(attended + ranTogether)
        writePending()
    }

    /// Reads the community state as far as its stage has applied the log, on the stage (a
    /// copy that escaped would make the stage's next change copy the whole state).
    public nonisolated func readCommunity<T: Sendable>(_ body: @escaping @Sendable (borrowing CommunityState) -> T) async -> T {
        await community.read(body)
    }

    /// How far the community stage has come: its log offset.
    public func communityProgress() async -> Int64 { await community.offset }
}
