import ClubKernel
import ClubRuntime
import Community
import Events

/// The Community subsystem's detectors on the telemetry path — attendance and running
/// together — on a thread of their own, so that they take each batch beside the window stages
/// instead of after them (the pipeline loop awaits both before the next batch, so the order of
/// batches holds).
actor CommunityDetectors {
    private let executor = DispatchQueueExecutor(label: "clubd-community-detectors")
    nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    private var attendance: AttendanceDetector
    private var together: TogetherDetector
    private let board: ScheduleBoard
    private let config: CommunityConfig
    /// The daemon's clock when the last batch of telemetry arrived.
    private var newestArrival: Int64 = 0

    init(attendance: AttendanceDetector, together: TogetherDetector, board: ScheduleBoard, config: CommunityConfig) {
        self.attendance = attendance
        self.together = together
        self.board = board
        self.config = config
    }

    func observe(_ samples: [TelemetrySample], now: Int64) {
        newestArrival = max(newestArrival, now)
        attendance.observe(samples, schedule: board.schedule, config: config, now: now)
        if config.togetherEnabled { together.observe(samples, config: config, now: now) }
    }

    /// What the clock decided: attendance of sessions past their grace, groups whose tracks ended.
    /// - Parameter quiet: whether no telemetry waits to be processed; while some does, pauses
    ///   are measured to the newest arrival, so that a held-up loop ends and settles nothing.
    func due(now: Int64, quiet: Bool) -> (attended: [ActivityEvent], together: [ActivityEvent]) {
        let settled = quiet ? now : newestArrival
        return (
            attendance.due(now: now, settledAt: settled, schedule: board.schedule, config: config),
            together.due(now: settled, config: config)
        )
    }

    /// Both detectors as they are now: copy-on-write values, encoded by the caller.
    var state: (attendance: AttendanceDetector, together: TogetherDetector) { (attendance, together) }
}
