import CZMQ

/// The ZeroMQ socket patterns the club uses.
public enum ZMQSocketType: Sendable {
    case push, pull, pub, sub, router, dealer, req, rep, pair
    /// The sides of a publish relay: XSUB connects to the publisher, XPUB takes the subscribers
    /// (and passes their subscriptions upstream).
    case xpub, xsub

    var rawValue: Int32 {
        switch self {
        case .push: ZMQ_PUSH
        case .pull: ZMQ_PULL
        case .pub: ZMQ_PUB
        case .sub: ZMQ_SUB
        case .router: ZMQ_ROUTER
        case .dealer: ZMQ_DEALER
        case .req: ZMQ_REQ
        case .rep: ZMQ_REP
        case .pair: ZMQ_PAIR
        case .xpub: ZMQ_XPUB
        case .xsub: ZMQ_XSUB
        }
    }
}
