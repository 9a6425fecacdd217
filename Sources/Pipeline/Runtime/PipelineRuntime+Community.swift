import ClubKernel
import ClubRuntime
import Community
import Metrics

/// The Community subsystem's part of the runtime: attendance decided on the telemetry loop,
/// and the queries its ops answer from the community stage.
extension PipelineRuntime {
    /// The snapshot part holding the attendance detector.
    static let attendancePart = "community.attendance"

    /// Decides the sessions whose end the clock has passed (the ticker calls it): what was
    /// detected joins the log as `session.attended`, with the closed windows' raised events.
    func decideAttendance() async {
        let raised = attendance.due(now: Clock.nowMillis(), schedule: community.board.schedule, config: community.config)
        guard !raised.isEmpty else { return }
        Counter(label: "clubd_attendance_detected_total").increment(by: Int64(raised.count))
        appendRaised(raised)
        await writePending()
    }

    /// Reads the community state as far as its stage has applied the log, on the stage (a
    /// copy that escaped would make the stage's next change copy the whole state).
    public nonisolated func readCommunity<T: Sendable>(_ body: @escaping @Sendable (borrowing CommunityState) -> T) async -> T {
        await community.read(body)
    }

    /// How far the community stage has come: its log offset.
    public func communityProgress() async -> Int64 { await community.offset }
}
