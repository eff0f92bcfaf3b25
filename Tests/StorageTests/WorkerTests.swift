import Glibc
import Posix
import RaftCore
@testable import Storage
import Testing

/// Completions collects what the worker reports, for the test thread to wait on.
final class Completions: @unchecked Sendable {
    private let monitor = Monitor()
    private var items: [PersistCompletion] = []

    func add(_ c: PersistCompletion) { monitor.locked { items.append(c) } }

    var all: [PersistCompletion] { monitor.locked { items } }

    /// wait until a completion covers `job`, for at most 10 s.
    func wait(for job: UInt64) -> Bool {
        for _ in 0..<1000 {
            if monitor.locked({ items.last.map { $0.jobs.upperBound >= job } ?? false }) { return true }
            sleepMilliseconds(10)
        }
        return false
    }
}

@Suite("Storage worker thread")
struct WorkerTests {
    @Test func jobsCompleteInOrderAndAreDurable() throws {
        let tmp = TempDir()
        let done = Completions()
        let worker = StorageWorker(directory: try openDir(tmp.dataDir, bootstrap: true),
                                   completion: { done.add($0) })
        var last: UInt64 = 0
        for i in 1...200 as ClosedRange<LogIndex> {
            last = worker.submit(PersistJob(hardState: HardState(term: 1, votedFor: NodeID(1), commitIndex: i - 1),
                                            entries: makeEntries(i...i, term: 1)))
            if i % 50 == 0 { sleepMilliseconds(5) } // let some jobs go alone, others merge
        }
        #expect(last == 200)
        #expect(done.wait(for: 200))
        let completions = done.all
        var expected: UInt64 = 1
        for c in completions {
            #expect(c.jobs.lowerBound == expected, "completions are contiguous and in order")
            expected = c.jobs.upperBound + 1
            if case .failure(let error) = c.result { Issue.record("job failed: \(error)") }
        }
        #expect(expected == 201)
        #expect(worker.latencies().count == completions.count)
        #expect(worker.writeInProgressNanoseconds() == nil)
        print("worker: 200 jobs in \(completions.count) writes; write latency \(LatencySummary(completions.map(\.nanoseconds)))")
        worker.stop()
        let dir = try openDir(tmp.dataDir)
        #expect(dir.state.log == makeEntries(1...200, term: 1))
        #expect(dir.state.hardState.commitIndex == 199)
    }

    /// Random truncations and appends, submitted faster than the disk writes them (so they
    /// merge), end up on disk exactly as if applied one by one.
    @Test(arguments: [1, 2, 3] as [UInt64])
    func randomJobsMergeLikeSequentialPersists(seed: UInt64) throws {
        let tmp = TempDir()
        var rng = SeededGenerator(seed: seed)
        var model: [Entry] = []
        var term: Term = 1
        var jobs: [PersistJob] = []
        for _ in 0..<300 {
            var job = PersistJob()
            if !model.isEmpty && Int.random(in: 0..<5, using: &rng) == 0 {
                let t = LogIndex.random(in: 1...LogIndex(model.count), using: &rng)
                model.removeSubrange(Int(t - 1)...)
                job.truncateFrom = t
                term += 1 // a new leader's entries replace the suffix
                job.hardState = HardState(term: term, votedFor: NodeID(UInt32(term % 3)))
            }
            for _ in 0..<Int.random(in: 0...3, using: &rng) {
                let entry = Entry(index: LogIndex(model.count + 1), term: term,
                                  payload: Bool.random(using: &rng) ? .noop : .data([UInt8(truncatingIfNeeded: model.count)]))
                model.append(entry)
                job.entries.append(entry)
            }
            jobs.append(job)
        }
        let done = Completions()
        let worker = StorageWorker(directory: try openDir(tmp.dataDir, bootstrap: true), completion: { done.add($0) })
        var last: UInt64 = 0
        for job in jobs { last = worker.submit(job) }
        #expect(done.wait(for: last))
        #expect(done.all.allSatisfy { (try? $0.result.get()) != nil })
        worker.stop()
        let dir = try openDir(tmp.dataDir)
        #expect(dir.state.log == model)
        #expect(dir.state.hardState.term == term)
    }

    @Test func failureIsReportedAndRetryRecovers() throws {
        let tmp = TempDir()
        var dir = try openDir(tmp.dataDir, bootstrap: true)
        dir.faults.failingSyncs = [.io]
        let done = Completions()
        let worker = StorageWorker(directory: dir, completion: { done.add($0) })
        let first = worker.submit(PersistJob(hardState: HardState(term: 4, votedFor: NodeID(2)), entries: makeEntries(1...3, term: 4)))
        #expect(done.wait(for: first))
        guard case .failure(let error) = done.all.last?.result else { Issue.record("expected a failure"); return }
        #expect(error == .syncFailed(file: tmp.dataDir + "/log", operation: "fdatasync", errno: EIO))
        let retry = worker.retry()
        #expect(done.wait(for: retry))
        guard case .success(let timing) = done.all.last?.result else { Issue.record("expected the retry to succeed"); return }
        #expect(timing.logRecords == 3 && timing.wroteState)
        worker.stop()
        let reopened = try openDir(tmp.dataDir)
        #expect(reopened.state.hardState == HardState(term: 4, votedFor: NodeID(2)))
        #expect(reopened.state.log == makeEntries(1...3, term: 4))
    }

    @Test func stopReleasesTheLock() throws {
        let tmp = TempDir()
        let worker = StorageWorker(directory: try openDir(tmp.dataDir, bootstrap: true), completion: { _ in })
        #expect(openError(tmp.dataDir, expectLocked: true) == .locked(lockFile: tmp.dataDir + "/lock", holder: getpid()))
        worker.stop()
        worker.stop() // idempotent
        _ = try openDir(tmp.dataDir)
    }
}

@Suite("Disk latency")
struct DiskLatencyTests {
    /// Prints fsync/fdatasync latency on the disk holding /tmp; the agent's benchmarks call
    /// DiskLatency.measure the same way next to their data dirs.
    @Test func printLatency() throws {
        let tmp = TempDir()
        let report = try DiskLatency.measure(in: tmp.path, samples: 200)
        print(report)
        #expect(report.stateWrite.samples == 200 && report.logAppend.samples == 200)
        #expect(report.stateWrite.p50Nanoseconds > 0 && report.logAppend.p50Nanoseconds > 0)
        #expect(!fileExists(tmp.path + "/baton-disk-probe-\(getpid())"))
    }

    @Test func percentiles() {
        let s = LatencySummary((1...100).map { UInt64($0) * 1_000_000 })
        #expect(s.p50Nanoseconds == 50_000_000 && s.p99Nanoseconds == 99_000_000 && s.maxNanoseconds == 100_000_000)
        #expect(s.description == "p50 50.00 ms, p99 99.00 ms, max 100.00 ms (n=100)")
        #expect(LatencySummary([]).samples == 0)
    }
}
