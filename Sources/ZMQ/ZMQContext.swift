import CZMQ
#if canImport(Glibc)
import Glibc
#endif

/// A libzmq context: the owner of I/O threads and sockets.
///
/// libzmq documents contexts as thread-safe, so one context is shared by every thread
/// of the process.
public final class ZMQContext: @unchecked Sendable {
    // Safe to share: every zmq_ctx_* function is thread-safe.
    let handle: UnsafeMutableRawPointer
    /// The `SCHED_FIFO` priority of the I/O threads: as asked for, or nil when not asked for
    /// or refused by the system.
    public let realtimePriority: Int32?

    /// Creates a context.
    /// - Parameters:
    ///   - ioThreads: libzmq background I/O threads (1 handles ~1 GB/s).
    ///   - realtimePriority: run the I/O threads under `SCHED_FIFO` at this priority, where the
    ///     system allows it (see ``realtimePriority``).
    public init(ioThreads: Int32 = 1, realtimePriority requested: Int32? = nil) {
        handle = zmq_ctx_new()
        zmq_ctx_set(handle, ZMQ_IO_THREADS, ioThreads)
        // libzmq aborts the process when the system refuses its I/O thread the policy: ask first.
        realtimePriority = requested.flatMap { RealtimeScheduling.isPermitted(priority: $0) ? $0 : nil }
        if let realtimePriority {
            zmq_ctx_set(handle, ZMQ_THREAD_SCHED_POLICY, Int32(SCHED_FIFO))
            zmq_ctx_set(handle, ZMQ_THREAD_PRIORITY, realtimePriority)
        }
    }

    /// Makes every blocking call on this context's sockets return with `ETERM`.
    /// Sockets must still be closed by their threads.
    public func shutdown() {
        zmq_ctx_shutdown(handle)
    }

    deinit {
        zmq_ctx_term(handle)
    }
}
