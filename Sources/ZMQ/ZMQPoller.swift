import CZMQ

/// Waits until one of several sockets has a message to read (`zmq_poll`).
public struct ZMQPoller {
    private var items: [zmq_pollitem_t]

    /// Watches `sockets` for readability, in this order.
    public init(reading sockets: [ZMQSocket]) {
        items = sockets.map { zmq_pollitem_t(socket: $0.handle, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0) }
    }

    /// Waits up to `timeoutMilliseconds` (-1: forever).
    /// - Returns: for each socket, whether it is readable.
    public mutating func poll(timeoutMilliseconds: Int) throws -> [Bool] {
        while true {
            let rc = items.withUnsafeMutableBufferPointer {
                zmq_poll($0.baseAddress, Int32($0.count), timeoutMilliseconds)
            }
            if rc >= 0 { break }
            let error = ZMQError(call: "zmq_poll")
            if error.interrupted { continue }
            throw error
        }
        return items.map { $0.revents & Int16(ZMQ_POLLIN) != 0 }
    }
}
