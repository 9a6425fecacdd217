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
