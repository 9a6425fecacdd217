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

    /// Creates a context.
    /// - Parameters:
    ///   - ioThreads: libzmq background I/O threads (1 handles ~1 GB/s).
    ///   - realtimePriority: run the I/O threads under `SCHED_FIFO` at this priority. libzmq
    ///     aborts the process when the system refuses, so pass it only when
    ///     ``RealtimeScheduling/isPermitted(priority:)`` says yes.
    public init(ioThreads: Int32 = 1, realtimePriority: Int32? = nil) {
        handle = zmq_ctx_new()
        zmq_ctx_set(handle, ZMQ_IO_THREADS, ioThreads)
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
