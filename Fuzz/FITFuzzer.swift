// libFuzzer entry point for the FIT decoder. Not a SwiftPM target: `scripts/fuzz-fit` (and
// .ci/run, for a bounded time) compiles it with the decoder's sources and -sanitize=fuzzer.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFIT(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if let activity = try? FITDecoder.decode(bytes) {
        // Touch what was decoded, so that nothing is optimised away.
        precondition(activity.records.count >= 0 && activity.sessions.count >= 0)
    }
    return 0
}
