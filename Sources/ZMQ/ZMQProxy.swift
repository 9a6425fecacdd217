import CZMQ

extension ZMQSocket {
    /// Relays messages both ways between `frontend` and `backend` (libzmq's built-in proxy) on
    /// the calling thread, until a `TERMINATE` arrives on `control` (a PAIR socket) or the
    /// context shuts down. The three sockets belong to the calling thread meanwhile.
    /// - Throws: ``ZMQError`` when the proxy ends for another reason.
    public static func proxy(frontend: ZMQSocket, backend: ZMQSocket, control: ZMQSocket) throws {
        guard zmq_proxy_steerable(frontend.handle, backend.handle, nil, control.handle) == 0 else {
            let error = ZMQError(call: "zmq_proxy_steerable")
            if error.contextTerminated { return }
            throw error
        }
    }
}
