#if canImport(Glibc)
import Glibc
#endif

/// Real-time (`SCHED_FIFO`) scheduling for the few threads that answer people while bulk
/// work keeps every core busy: a woken real-time thread runs at once instead of waiting
/// for the time slices of runnable bulk threads.
///
/// Needs `CAP_SYS_NICE` or an `RLIMIT_RTPRIO` of at least the priority (systemd:
/// `LimitRTPRIO=`); without either the system refuses and threads keep normal scheduling.
public enum RealtimeScheduling {
    /// Puts the calling thread under `SCHED_FIFO` at `priority` (1…99).
    /// - Returns: false when the system refuses (no permission, or not Linux).
    @discardableResult
    public static func applyToCurrentThread(priority: Int32) -> Bool {
        #if os(Linux)
        var parameters = sched_param(sched_priority: priority)
        return pthread_setschedparam(pthread_self(), SCHED_FIFO, &parameters) == 0
        #else
        return false
        #endif
    }

    /// Whether this process may run threads under `SCHED_FIFO` at `priority`: tries it on
    /// the calling thread and puts the thread back as it was.
    public static func isPermitted(priority: Int32) -> Bool {
        #if os(Linux)
        var policy: Int32 = 0
        var previous = sched_param()
        guard pthread_getschedparam(pthread_self(), &policy, &previous) == 0 else { return false }
        guard applyToCurrentThread(priority: priority) else { return false }
        _ = pthread_setschedparam(pthread_self(), policy, &previous)
        return true
        #else
        return false
        #endif
    }
}
