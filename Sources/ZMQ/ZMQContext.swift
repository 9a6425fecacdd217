import CZMQ

/// A libzmq context: the owner of I/O threads and sockets.
///
/// libzmq documents contexts as thread-safe, so one context is shared by every thread
/// of the process.
public final class ZMQContext: @unchecked Sendable {
    // Safe to share: every zmq_ctx_* function is thread-safe.
    let handle: UnsafeMutableRawPointer

    /// Creates a context.
    /// - Parameter ioThreads: libzmq background I/O threads (1 handles ~1 GB/s).
    public init(ioThreads: Int32 = 1) {
        handle = zmq_ctx_new()
        zmq_ctx_set(handle, ZMQ_IO_THREADS, ioThreads)
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
