import Synchronization

/// A flag one thread or task sets, once, and others read without waiting: a stop request to a
/// thread of its own, a background task's end. A class, so that a closure can hold it.
public final class OnceFlag: Sendable {
    private let value = Atomic<Bool>(false)

    public init() {}

    public func set() { value.store(true, ordering: .releasing) }
    public var isSet: Bool { value.load(ordering: .acquiring) }
}
