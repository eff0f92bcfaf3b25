import EventLoop
import Glibc
import Posix
import Synchronization
import Testing
import Time

/// Runs `loop.pollOnce` until `done()` or `timeoutMs` passes; false on timeout.
func pump(_ loop: EventLoop, timeoutMs: Int = 3000, until done: () -> Bool) throws -> Bool {
    let deadline = Clock.boottime() + UInt64(timeoutMs) * 1_000_000
    while !done() {
        if Clock.boottime() > deadline { return false }
        try loop.pollOnce(timeoutMs: 50)
    }
    return true
}

@Suite struct EventLoopTests {
    @Test func timersFireInDeadlineOrder() throws {
        let loop = try EventLoop()
        var fired: [Int] = []
        let base = Clock.now()
        for delay in [30, 10, 20, 0] {
            loop.schedule(at: base + .milliseconds(Int64(delay))) { _ in fired.append(delay) }
        }
        #expect(try pump(loop) { fired.count == 4 })
        #expect(fired == [0, 10, 20, 30])
        #expect(Clock.now() - base >= .milliseconds(30))
    }

    @Test func equalDeadlinesFireInSchedulingOrder() throws {
        let loop = try EventLoop()
        var fired: [Int] = []
        let at = Clock.now() + .milliseconds(5)
        for i in 0..<5 { loop.schedule(at: at) { _ in fired.append(i) } }
        #expect(try pump(loop) { fired.count == 5 })
        #expect(fired == [0, 1, 2, 3, 4])
    }

    @Test func manyRandomTimersFireSortedAndCancelledOnesNever() throws {
        let loop = try EventLoop()
        var generator = SystemRandomNumberGenerator()
        let base = Clock.now() + .milliseconds(2)
        var fired: [(deadline: Instant, index: Int)] = []
        var cancelled = Set<Int>()
        var ids: [TimerID] = []
        for i in 0..<1000 {
            let deadline = base + Interval(nanoseconds: Int64.random(in: 0..<40_000_000, using: &generator))
            ids.append(loop.schedule(at: deadline) { _ in fired.append((deadline, i)) })
        }
        for i in 0..<1000 where Bool.random(using: &generator) && i % 3 == 0 {
            loop.cancel(ids[i])
            cancelled.insert(i)
        }
        #expect(try pump(loop) { fired.count == 1000 - cancelled.count })
        try loop.pollOnce(timeoutMs: 10)
        #expect(fired.count == 1000 - cancelled.count)
        #expect(fired.allSatisfy { !cancelled.contains($0.index) })
        #expect(zip(fired, fired.dropFirst()).allSatisfy { $0.deadline <= $1.deadline })
    }

    @Test func cancelledTimerDoesNotFire() throws {
        let loop = try EventLoop()
        var fired: [String] = []
        let cancelled = loop.schedule(after: .milliseconds(10)) { _ in fired.append("cancelled") }
        loop.schedule(after: .milliseconds(40)) { _ in fired.append("kept") }
        loop.cancel(cancelled)
        loop.cancel(cancelled)  // twice is harmless
        #expect(!loop.isScheduled(cancelled))
        #expect(try pump(loop) { fired.count == 1 })
        try loop.pollOnce(timeoutMs: 30)
        #expect(fired == ["kept"])
        #expect(loop.scheduledTimerCount == 0)
    }

    @Test func repeatingTimerRepeatsUntilCancelled() throws {
        let loop = try EventLoop()
        var ticks = 0
        var timer: TimerID?
        timer = loop.schedule(after: .milliseconds(5), repeatingEvery: .milliseconds(5)) { loop in
            ticks += 1
            if ticks == 4 { loop.cancel(timer!) }
        }
        #expect(try pump(loop) { ticks == 4 })
        try loop.pollOnce(timeoutMs: 30)
        #expect(ticks == 4)
        #expect(!loop.isScheduled(timer!))
    }

    @Test func rescheduleMovesATimer() throws {
        let loop = try EventLoop()
        var fired: [String] = []
        let late = loop.schedule(after: .milliseconds(1000)) { _ in fired.append("moved") }
        loop.schedule(after: .milliseconds(30)) { _ in fired.append("second") }
        #expect(loop.reschedule(late, at: Clock.now() + .milliseconds(5)))
        #expect(try pump(loop) { fired.count == 2 })
        #expect(fired == ["moved", "second"])
        #expect(!loop.reschedule(late, at: .zero))  // one-shot already fired
    }

    @Test func timerScheduledFromTimerRuns() throws {
        let loop = try EventLoop()
        var order: [Int] = []
        loop.schedule(after: .milliseconds(1)) { loop in
            order.append(1)
            loop.schedule(after: .milliseconds(1)) { _ in order.append(2) }
        }
        #expect(try pump(loop) { order.count == 2 })
        #expect(order == [1, 2])
    }

    @Test func workPostedFromAnotherThreadRunsOnTheLoopInOrder() throws {
        let seen = Mutex<[Int]>([])
        let (thread, _) = try EventLoopThread.start { _ in () }
        let poster = try PosixThread.spawn {
            for i in 0..<100 { thread.remote.post { _ in seen.withLock { $0.append(i) } } }
        }
        poster.join()
        let deadline = Clock.boottime() + 3_000_000_000
        while seen.withLock({ $0.count }) < 100 && Clock.boottime() < deadline { try PosixThread.sleepMs(5) }
        thread.stop()
        #expect(seen.withLock { $0 } == Array(0..<100))
    }

    @Test func stopFromRemoteEndsRun() throws {
        let (thread, value) = try EventLoopThread.start { _ in 42 }
        #expect(value == 42)
        thread.stop()  // returns only once run() returned and the thread ended
    }

    @Test func setupErrorIsReportedWithItsType() throws {
        struct Boom: Error, Equatable { var code: Int }
        let error = #expect(throws: EventLoopThread.SetupError.self) {
            _ = try EventLoopThread.start { _ -> Int in throw Boom(code: 7) }
        }
        // The error itself, not its text: a caller can still tell EADDRINUSE from EACCES.
        #expect(error?.underlying as? Boom == Boom(code: 7))
        let errno = #expect(throws: EventLoopThread.SetupError.self) {
            _ = try EventLoopThread.start { _ -> Int in throw Errno.addressInUse }
        }
        #expect(errno?.underlying as? Errno == .addressInUse)
    }

    @Test func childExitIsObservedThroughPidfd() throws {
        let loop = try EventLoop()
        var exits: [ChildExit] = []
        let pid = try ChildProcess.spawn(["sh", "-c", "sleep 0.05; exit 3"])
        try loop.watchChild(pid: pid) { exits.append(try! $0.get()) }
        let killed = try ChildProcess.spawn(["sleep", "10"])
        try loop.watchChild(pid: killed) { exits.append(try! $0.get()) }
        #expect(try pump(loop) { exits.count == 1 })
        #expect(exits == [.exited(code: 3)])
        try PosixThread.kill(pid: killed, signal: 15)
        #expect(try pump(loop) { exits.count == 2 })
        #expect(exits.last == .signalled(signal: 15))
    }

    @Test func childReapedElsewhereIsReportedAsECHILDNotAnExitCode() throws {
        let loop = try EventLoop()
        var outcomes: [Result<ChildExit, Errno>] = []
        let pid = try ChildProcess.spawn(["sh", "-c", "exit 0"])
        try loop.watchChild(pid: pid) { outcomes.append($0) }
        // Someone else in the process reaps it before the loop looks.
        var status: Int32 = 0
        #expect(waitpid(pid, &status, 0) == pid)
        #expect(try pump(loop) { outcomes.count == 1 })
        guard case .failure(let error)? = outcomes.first else {
            Issue.record("expected ECHILD, got \(outcomes)")
            return
        }
        #expect(error == .noChildProcess)
    }

    @Test func cancelledTimersDoNotStayInTheHeap() throws {
        let loop = try EventLoop()
        // 10,000 long-poll holds of 5 minutes, all cancelled: the heap must not keep them.
        var ids: [TimerID] = []
        for _ in 0..<10_000 { ids.append(loop.schedule(after: .milliseconds(300_000)) { _ in }) }
        #expect(loop.timerHeapEntryCount == 10_000)
        for id in ids { loop.cancel(id) }
        #expect(loop.scheduledTimerCount == 0)
        #expect(loop.timerHeapEntryCount <= 64)

        // Churn with live timers among them: bounded by twice the live count, and the
        // live ones still fire, in order, the cancelled ones never.
        var fired: [Int] = []
        var live: [TimerID] = []
        let base = Clock.now()
        for round in 0..<20 {
            var batch: [TimerID] = []
            for i in 0..<1_000 { batch.append(loop.schedule(at: base + .seconds(300) + Interval(nanoseconds: Int64(i))) { _ in }) }
            live.append(loop.schedule(at: base + .milliseconds(Int64(20 + round))) { _ in fired.append(round) })
            for id in batch { loop.cancel(id) }
            #expect(loop.timerHeapEntryCount <= max(64, 2 * loop.scheduledTimerCount))
        }
        // Moving a timer many times leaves no trail either.
        let moved = loop.schedule(after: .milliseconds(300_000)) { _ in }
        for i in 0..<10_000 { loop.reschedule(moved, at: base + .seconds(300) + Interval(nanoseconds: Int64(i))) }
        #expect(loop.timerHeapEntryCount <= max(64, 2 * loop.scheduledTimerCount))
        loop.cancel(moved)
        #expect(try pump(loop) { fired.count == 20 })
        #expect(fired == Array(0..<20))
        #expect(live.allSatisfy { !loop.isScheduled($0) })
        #expect(loop.timerHeapEntryCount <= 64)
    }

    @Test func descriptorHandlersGetReadiness() throws {
        final class Recorder: EventHandler {
            var events: [Int32] = []
            func handleEvents(_ events: EpollEvents, descriptor: Int32) { self.events.append(descriptor) }
        }
        let loop = try EventLoop()
        let wake = try EventFD()
        let recorder = Recorder()
        try loop.register(wake.descriptor.rawValue, interest: .readable, handler: recorder)
        wake.signal()
        #expect(try pump(loop) { recorder.events.count >= 1 })
        _ = try wake.drain()
        loop.unregister(wake.descriptor.rawValue)
        wake.signal()
        let before = recorder.events.count
        try loop.pollOnce(timeoutMs: 20)
        #expect(recorder.events.count == before)
    }
}

@Suite struct PosixTests {
    @Test func errnoIsReadable() {
        #expect(Errno.addressInUse.description == "EADDRINUSE (Address already in use)")
        #expect(Errno(rawValue: 9999).name == "errno 9999")
    }

    @Test func addressesParse() throws {
        #expect(try SocketAddress(parsing: "127.0.0.1:8080").description == "127.0.0.1:8080")
        #expect(try SocketAddress(parsing: "[::1]:80").description == "[::1]:80")
        #expect(try SocketAddress(parsing: "[::1]:80").isIPv6)
        #expect(throws: SocketAddress.ParseError.missingPort("127.0.0.1")) { try SocketAddress(parsing: "127.0.0.1") }
        #expect(throws: SocketAddress.ParseError.badPort("1.2.3.4:70000")) { try SocketAddress(parsing: "1.2.3.4:70000") }
        #expect(throws: SocketAddress.ParseError.badHost("example.com:80")) { try SocketAddress(parsing: "example.com:80") }
        #expect(throws: SocketAddress.ParseError.badHost("::1:80")) { try SocketAddress(parsing: "::1:80") }
    }

    @Test func listenOnIPv6AndConnect() throws {
        let listener = try Socket.listen(on: SocketAddress(parsing: "[::1]:0"))
        let address = try Socket.localAddress(listener)
        #expect(address.port != 0)
        let client = try Socket.connect(to: address)
        var accepted = false
        for _ in 0..<100 where !accepted {
            switch try Socket.accept(listener) {
            case .accepted: accepted = true
            case .wouldBlock: try PosixThread.sleepMs(5)
            }
        }
        #expect(accepted)
        _ = consume client
    }

    @Test func bindingATakenPortIsATypedError() throws {
        let first = try Socket.listen(on: SocketAddress(parsing: "127.0.0.1:0"))
        let address = try Socket.localAddress(first)
        // SO_REUSEADDR does not allow two listeners on one port.
        #expect(throws: Errno.addressInUse) { _ = try Socket.listen(on: address) }
    }

    /// release hands the descriptor over still open; adopting it again and dropping the
    /// owner closes it. Seen through a pipe, so a descriptor number reused by a test
    /// running in parallel cannot make this pass: bytes written through the released
    /// number arrive, and once the only write end is closed the reader sees end of file.
    @Test func releaseGivesUpOwnership() throws {
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)
        let reader = FileDescriptor(adopting: ends[0])
        let number = FileDescriptor(adopting: ends[1]).release()
        var byte: UInt8 = 42
        #expect(write(number, &byte, 1) == 1, "released, not closed")
        var buffer = [UInt8](repeating: 0, count: 4)
        let n = try buffer.withUnsafeMutableBytes { try reader.readBlocking(into: $0) }
        #expect(n == 1 && buffer[0] == 42)
        do { _ = FileDescriptor(adopting: number) }  // the new owner closes it at once
        let eof = try buffer.withUnsafeMutableBytes { try reader.readBlocking(into: $0) }
        #expect(eof == 0, "the write end was closed by the owner that adopted it again")
    }

    @Test func boottimeAdvances() throws {
        let a = Clock.boottime()
        try PosixThread.sleepMs(2)
        #expect(Clock.boottime() - a >= 2_000_000)
    }

    @Test func raiseOpenFilesReturnsTheSoftLimit() throws {
        let limit = try ResourceLimits.raiseOpenFiles(to: 4096)
        #expect(limit >= 1024)
    }
}
