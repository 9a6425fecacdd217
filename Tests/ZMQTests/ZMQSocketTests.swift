import Testing
import ZMQ

@Suite struct ZMQSocketTests {
    let context = ZMQContext()

    @Test func pushPullOverLoopbackWithWildcardPort() throws {
        let pull = try ZMQSocket(context: context, type: .pull)
        try pull.bind("tcp://127.0.0.1:*")
        let push = try ZMQSocket(context: context, type: .push)
        try push.connect(pull.lastEndpoint)
        try push.send(Array("hello".utf8))
        try pull.set(.receiveTimeout, 2000)
        let frame = try #require(try pull.receiveFrame())
        #expect(String(decoding: frame.bytes, as: UTF8.self) == "hello")
        #expect(frame.more == false)
    }

    /// A priority the kernel refuses (SCHED_FIFO allows 1…99, to root too) leaves the context's
    /// threads at normal scheduling instead of libzmq aborting the process; its sockets work.
    @Test func aRefusedRealtimePriorityFallsBackToNormalScheduling() throws {
        let refused = ZMQContext(realtimePriority: 100)
        #expect(refused.realtimePriority == nil)
        let pull = try ZMQSocket(context: refused, type: .pull)
        try pull.bind("inproc://refused-realtime")
        let push = try ZMQSocket(context: refused, type: .push)
        try push.connect("inproc://refused-realtime")
        try push.send(Array("still here".utf8))
        try pull.set(.receiveTimeout, 2000)
        #expect(try pull.receiveFrame()?.bytes == Array("still here".utf8))
        let asked = ZMQContext(realtimePriority: 10)
        #expect(asked.realtimePriority == (RealtimeScheduling.isPermitted(priority: 10) ? 10 : nil))
    }

    @Test func multipartThroughRouterAndDealer() throws {
        let router = try ZMQSocket(context: context, type: .router)
        try router.bind("inproc://router-test")
        let dealer = try ZMQSocket(context: context, type: .dealer)
        try dealer.connect("inproc://router-test")
        try dealer.send(frames: [[], Array("req".utf8)])
        let request = try #require(try router.receiveMessage())
        #expect(request.count == 3)
        #expect(request[1].isEmpty)
        try router.send(frames: [request[0], [], Array("rep".utf8)])
        let reply = try #require(try dealer.receiveMessage())
        #expect(reply == [[], Array("rep".utf8)])
    }

    @Test func nonBlockingReceiveOnEmptySocketReturnsNil() throws {
        let pull = try ZMQSocket(context: context, type: .pull)
        try pull.bind("inproc://empty")
        #expect(try pull.receiveFrame(wait: false) == nil)
    }

    @Test func pollerReportsReadableSocket() throws {
        let a = try ZMQSocket(context: context, type: .pull)
        try a.bind("inproc://poll-a")
        let b = try ZMQSocket(context: context, type: .pull)
        try b.bind("inproc://poll-b")
        let push = try ZMQSocket(context: context, type: .push)
        try push.connect("inproc://poll-b")
        try push.send([1])
        var poller = ZMQPoller(reading: [a, b])
        #expect(try poller.poll(timeoutMilliseconds: 1000) == [false, true])
    }

    @Test func bindErrorCarriesCallAndErrno() throws {
        let socket = try ZMQSocket(context: context, type: .pull)
        #expect(throws: ZMQError.self) { try socket.bind("tcp://not-an-address") }
    }
}

/// CurveZMQ keys: generated pairs, the public key derived from the secret one, Z85 checks.
@Suite struct CurveKeysTests {
    @Test func generatedPairsDeriveAndValidate() throws {
        #expect(CurveKeys.isAvailable)
        let (publicKey, secretKey) = try CurveKeys.generate()
        #expect(CurveKeys.isWellFormed(publicKey) && CurveKeys.isWellFormed(secretKey) && publicKey != secretKey)
        #expect(CurveKeys.publicKey(forSecret: secretKey) == publicKey)
        #expect(CurveKeys.publicKey(forSecret: "short") == nil)
        #expect(CurveKeys.problem(with: publicKey) == nil)
        #expect(CurveKeys.problem(with: "abc")?.contains("not 3") == true)
        #expect(CurveKeys.problem(with: String(repeating: "~", count: 40))?.contains("'~'") == true)
    }

    @Test func aCurveClientTalksToACurveServerAndAPlainOneDoesNot() throws {
        let context = ZMQContext()
        let server = try CurveKeys.generate()
        let client = try CurveKeys.generate()
        let rep = try ZMQSocket(context: context, type: .rep)
        try rep.set(.linger, 0)
        try rep.makeCurveServer(secretKey: server.secretKey, domain: "test")
        try rep.bind("tcp://127.0.0.1:*")
        let req = try ZMQSocket(context: context, type: .req)
        try req.set(.linger, 0)
        try CurveClientKeys(serverKey: server.publicKey, publicKey: client.publicKey, secretKey: client.secretKey).apply(to: req)
        try req.connect(rep.lastEndpoint)
        try req.send(Array("ping".utf8))
        try rep.set(.receiveTimeout, 3000)
        #expect(try rep.receiveFrame(wait: true).map { String(decoding: $0.bytes, as: UTF8.self) } == "ping")
        let plain = try ZMQSocket(context: context, type: .req)
        try plain.set(.linger, 0)
        try plain.connect(rep.lastEndpoint)
        try plain.send(Array("plain".utf8))
        try rep.set(.receiveTimeout, 500)
        try rep.send(Array("pong".utf8))
        #expect(try rep.receiveFrame(wait: true) == nil)  // the plain client never got through
    }
}
