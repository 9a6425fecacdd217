import CZMQ

/// Integer socket options with their libzmq names.
public enum ZMQSocketOption: Sendable {
    /// `ZMQ_SNDHWM`: queued outgoing messages per peer before send blocks or drops.
    case sendHighWaterMark
    /// `ZMQ_RCVHWM`: queued incoming messages per peer before the peer is pushed back.
    case receiveHighWaterMark
    /// `ZMQ_LINGER`: milliseconds unsent messages survive `close`.
    case linger
    /// `ZMQ_RCVTIMEO`: milliseconds a blocking receive waits before `EAGAIN` (-1 forever).
    case receiveTimeout
    /// `ZMQ_SNDTIMEO`: milliseconds a blocking send waits before `EAGAIN` (-1 forever).
    case sendTimeout
    /// `ZMQ_MAXMSGSIZE` (64-bit): a larger inbound message drops the peer's connection.
    case maxMessageSize
    /// `ZMQ_CURVE_SERVER`: 1 makes the socket a CurveZMQ server.
    case curveServer
    /// `ZMQ_IMMEDIATE`: 1 queues messages only to peers whose connection is complete (a socket
    /// connected to several endpoints then skips the ones that are down).
    case immediate

    var rawValue: Int32 {
        switch self {
        case .sendHighWaterMark: ZMQ_SNDHWM
        case .receiveHighWaterMark: ZMQ_RCVHWM
        case .linger: ZMQ_LINGER
        case .receiveTimeout: ZMQ_RCVTIMEO
        case .sendTimeout: ZMQ_SNDTIMEO
        case .maxMessageSize: ZMQ_MAXMSGSIZE
        case .curveServer: ZMQ_CURVE_SERVER
        case .immediate: ZMQ_IMMEDIATE
        }
    }

    /// libzmq declares ZMQ_MAXMSGSIZE as int64_t, every other option here as int.
    var is64Bit: Bool { self == .maxMessageSize }
}
