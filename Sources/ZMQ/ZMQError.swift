import CZMQ

/// An error reported by libzmq: the failing call and the C `errno` it left.
public struct ZMQError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The `errno` value libzmq reported.
    public let code: Int32
    /// The libzmq call that failed, such as `zmq_bind`.
    public let call: String

    /// Captures `zmq_errno()` for a call that just failed.
    public init(call: String, code: Int32 = zmq_errno()) {
        self.code = code
        self.call = call
    }

    /// libzmq's own text for the error.
    public var message: String { String(cString: zmq_strerror(code)) }

    public var description: String { "\(call) failed: \(message) (errno \(code))" }

    /// True when the call would have blocked (`EAGAIN`): no message, or a full queue.
    public var wouldBlock: Bool { code == EAGAIN }

    /// True when the context was terminated (`ETERM`).
    public var contextTerminated: Bool { code == ETERM }

    /// True when a blocking call was interrupted by a signal (`EINTR`).
    public var interrupted: Bool { code == EINTR }
}
