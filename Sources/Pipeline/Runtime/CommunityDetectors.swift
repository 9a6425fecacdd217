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

    init(attendance: AttendanceDetector, together: TogetherDetector, board: ScheduleBoard, config: CommunityConfig) {
        self.attendance = attendance
        self.together = together
        self.board = board
        self.config = config
    }

    func observe(_ samples: [TelemetrySample], now: Int64) {
        attendance.observe(samples, schedule: board.schedule, config: config, now: now)
        if config.togetherEnabled { together.observe(samples, config: config, now: now) }
    }

    /// What the clock decided: attendance of sessions past their grace, groups whose tracks ended.
    func due(now: Int64, quiet: Bool) -> (attended: [ActivityEvent], together: [ActivityEvent]) {
        (
            attendance.due(now: now, quiet: quiet, schedule: board.schedule, config: config),
            together.due(now: now, quiet: quiet, config: config)
        )
    }

    /// Both detectors as they are now: copy-on-write values, encoded by the caller.
    var state: (attendance: AttendanceDetector, together: TogetherDetector) { (attendance, together) }
}
