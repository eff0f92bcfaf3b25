// How long one parse of a typical request takes. Meaningful in release only:
//   swift test -c release --filter ParserSpeedTests
#if canImport(Glibc)
import Glibc
#endif
import HTTPParser
import Testing

/// threadCPUNanoseconds() is this thread's CPU time: on a loaded machine it is a
/// fairer figure than wall time, which also counts the time other processes ran.
func threadCPUNanoseconds() -> Double {
    #if canImport(Glibc)
    var now = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
    return Double(now.tv_sec) * 1e9 + Double(now.tv_nsec)
    #else
    return 0
    #endif
}

@Suite struct ParserSpeedTests {
    @Test func typicalGetParseTime() {
        let request = Array(("GET /leader HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: wrk/4.2.0\r\n"
            + "Accept: */*\r\nConnection: keep-alive\r\nAccept-Encoding: gzip\r\n\r\n").utf8)
        #if DEBUG
        let rounds = 2_000
        #else
        let rounds = 2_000_000
        #endif
        var slots = [HeaderSlot](repeating: HeaderSlot(), count: 64)
        var head = HTTPRequestHead()
        var consumedTotal = 0
        let limits = HTTPLimits()
        let cpuBefore = threadCPUNanoseconds()
        let elapsed = ContinuousClock().measure {
            request.withUnsafeBytes { raw in
                slots.withUnsafeMutableBufferPointer { slots in
                    for _ in 0..<rounds {
                        if case .complete(let consumed) = parseRequestHead(raw, limits: limits, head: &head, headers: slots) {
                            consumedTotal &+= consumed
                        }
                    }
                }
            }
        }
        let cpu = threadCPUNanoseconds() - cpuBefore
        #expect(consumedTotal == rounds * request.count)
        #expect(head.headerCount == 5)
        let nanoseconds = Double(elapsed.components.seconds) * 1e9 + Double(elapsed.components.attoseconds) / 1e9
        print("parseRequestHead: \(Int(nanoseconds / Double(rounds))) ns/parse wall, \(Int(cpu / Double(rounds))) ns/parse thread CPU,"
              + " over \(rounds) parses of a \(request.count)-byte GET with 5 headers")
    }
}
