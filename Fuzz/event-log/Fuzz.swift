import FaultlineFuzzing

/// libFuzzer's entry point: one case of `FuzzTarget.eventLog`. A broken invariant traps, so
/// libFuzzer keeps the input as a crash.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    let problems = FuzzTarget.eventLog.run(bytes)
    if !problems.isEmpty { fatalError("fuzz-event-log: " + problems.joined(separator: "; ")) }
    return 0
}
