import Posix
public import RaftCore

/// PersistJob is the durable part of one or more `Ready`s: a truncation, entries to
/// append, and the newest hard state.
public struct PersistJob: Sendable, Equatable {
    public var hardState: HardState?
    /// A snapshot replacing the entries it covers; applied before `truncateFrom` and
    /// `entries` (every one of which follows it).
    public var snapshot: Snapshot?
    public var truncateFrom: LogIndex?
    public var entries: [Entry]
    /// A new identity for the data dir (written before the rest).
    public var identity: MemberIdentity?

    public init(hardState: HardState? = nil, snapshot: Snapshot? = nil, truncateFrom: LogIndex? = nil, entries: [Entry] = [],
                identity: MemberIdentity? = nil) {
        self.hardState = hardState; self.snapshot = snapshot; self.truncateFrom = truncateFrom; self.entries = entries
        self.identity = identity
    }

    /// init(_:) takes what `ready` asks to persist.
    public init(_ ready: Ready) {
        self.init(hardState: ready.hardState, snapshot: ready.snapshot, truncateFrom: ready.truncateFrom, entries: ready.entries)
    }

    /// merge folds `later` into this job so that persisting the result equals persisting
    /// this job and then `later`: the newer hard state wins; a truncation by `later` cuts
    /// this job's entries, or reaches below them, which then become one earlier truncation.
    public mutating func merge(_ later: PersistJob) {
        if let h = later.hardState { hardState = h }
        if let i = later.identity { identity = i }
        if let s = later.snapshot {
            // The later snapshot replaces everything this job wrote up to its index; an
            // earlier truncation inside it is covered by it too.
            entries.removeAll { $0.index <= s.index }
            if let t = truncateFrom, t <= s.index { truncateFrom = nil }
            snapshot = s
        }
        if let t = later.truncateFrom {
            if let first = entries.first?.index, t >= first {
                // Only this job's own entries from t on are dropped.
                entries.removeSubrange(Int(min(t - first, UInt64(entries.count)))...)
            } else {
                entries.removeAll()
                truncateFrom = min(truncateFrom ?? t, t)
            }
        }
        entries.append(contentsOf: later.entries)
    }
}

/// PersistCompletion reports one disk write done by the worker thread.
public struct PersistCompletion: Sendable {
    /// jobs are the ids (from `submit`) this write covered: jobs queued while the disk was
    /// busy are merged and written together (group commit). On success every job up to
    /// `jobs.upperBound` is durable and the messages that waited for them may be sent.
    public var jobs: ClosedRange<UInt64>
    /// result is the write's timing, or why it failed. After a failure the jobs' content is
    /// kept (nothing is lost); it is written by the next job or `retry()`, and the agent
    /// must not send what depended on these jobs until a later completion succeeds.
    public var result: Result<SyncTiming, StorageError>
    /// nanoseconds is the whole write, from taking the jobs to finishing.
    public var nanoseconds: UInt64
}

/// StorageWorker owns a DataDirectory on its own thread, so the event loop never waits on
/// the disk (design §3). The loop calls `submit` with each `Ready`'s durable part and
/// holds the Ready's messages until `completion` reports the job durable.
///
/// The queue is bounded without ever blocking or dropping: jobs that arrive while a write
/// is in progress are merged into one pending job (see `PersistJob.merge`), which costs
/// memory only for entries not yet written, and turns a burst into one fsync. Jobs are
/// written in submission order and completions arrive in that order, on the worker thread:
/// `completion` must be quick (queue the result and wake the loop, e.g. via an eventfd).
public final class StorageWorker: Sendable {
    private let shared: Shared
    private let thread: ThreadBox

    /// Shared is the state that both threads touch, always under `monitor`.
    private final class Shared: @unchecked Sendable {
        let monitor = Monitor()
        var pending: PersistJob? = nil
        var firstPending: UInt64 = 0
        var nextID: UInt64 = 1
        var stopping = false
        var history: [PersistCompletionSample] = []
        var historyNext = 0
        /// writeStarted is when the write in progress began (0 when idle).
        var writeStarted: UInt64 = 0
    }

    /// DirectoryBox hands the directory to the worker thread, the only one to touch it.
    private final class DirectoryBox: @unchecked Sendable {
        var directory: DataDirectory?
        init(_ directory: consuming DataDirectory) { self.directory = consume directory }

        func persist(_ job: PersistJob) -> Result<SyncTiming, StorageError> {
            guard var d = directory.take() else { preconditionFailure("StorageWorker: directory gone") }
            let result: Result<SyncTiming, StorageError>
            do throws(StorageError) {
                if let identity = job.identity { try d.setIdentity(identity) }
                try d.persist(hardState: job.hardState, snapshot: job.snapshot, truncateFrom: job.truncateFrom, entries: job.entries)
                result = .success(d.lastSync)
            } catch {
                result = .failure(error)
            }
            directory = consume d
            return result
        }
    }

    private final class ThreadBox: @unchecked Sendable {
        var thread: PosixThread?
        init() {}
    }

    /// historyCapacity bounds the timing samples kept for `latencies()`.
    public static let historyCapacity = 4096

    /// init starts the worker thread, which takes ownership of `directory` (and its lock)
    /// until `stop()`.
    public init(directory: consuming DataDirectory,
                completion: @escaping @Sendable (PersistCompletion) -> Void) {
        let shared = Shared()
        let box = DirectoryBox(directory)
        self.shared = shared
        self.thread = ThreadBox()
        do {
            self.thread.thread = try PosixThread.spawn {
                StorageWorker.run(shared: shared, box: box, completion: completion)
            }
        } catch {
            fatalError("cannot start the storage thread: \(error)")  // no thread, no durable state
        }
    }

    deinit { stop() }

    /// submit queues a job and returns its id at once; it never waits for the disk.
    @discardableResult
    public func submit(_ job: PersistJob) -> UInt64 {
        shared.monitor.locked {
            precondition(!shared.stopping, "StorageWorker.submit after stop()")
            let id = shared.nextID
            shared.nextID += 1
            if shared.pending == nil {
                shared.pending = job
                shared.firstPending = id
            } else {
                shared.pending!.merge(job)
            }
            shared.monitor.broadcast()
            return id
        }
    }

    /// retry asks the worker to write whatever an earlier failure left unwritten; its
    /// completion says whether the disk has recovered.
    @discardableResult
    public func retry() -> UInt64 { submit(PersistJob()) }

    /// stop finishes the pending jobs, ends the thread and releases the data dir and its lock.
    public func stop() {
        let thread: PosixThread? = shared.monitor.locked {
            shared.stopping = true
            shared.monitor.broadcast()
            let t = self.thread.thread
            self.thread.thread = nil
            return t
        }
        thread?.join()
    }

    /// writeInProgressNanoseconds is how long the current disk write has been running, nil
    /// when idle. A write that hangs (a stuck fsync) is no error but leaves this member
    /// unable to vote or acknowledge: the agent can report itself unhealthy past a bound.
    public func writeInProgressNanoseconds() -> UInt64? {
        shared.monitor.locked {
            shared.writeStarted == 0 ? nil : Clock.boottime() - shared.writeStarted
        }
    }

    /// latencies returns the recent writes' timings, oldest first (at most historyCapacity).
    public func latencies() -> [PersistCompletionSample] {
        shared.monitor.locked {
            let h = shared.history
            if h.count < StorageWorker.historyCapacity { return h }
            return Array(h[shared.historyNext...] + h[..<shared.historyNext])
        }
    }

    private static func run(shared: Shared, box: DirectoryBox,
                            completion: @Sendable (PersistCompletion) -> Void) {
        while true {
            let taken: (PersistJob, ClosedRange<UInt64>)? = shared.monitor.locked {
                while shared.pending == nil && !shared.stopping { shared.monitor.wait() }
                guard let job = shared.pending else { return nil }
                shared.pending = nil
                shared.writeStarted = Clock.boottime()
                return (job, shared.firstPending...(shared.nextID - 1))
            }
            guard let (job, ids) = taken else { break }
            let started = shared.monitor.locked { shared.writeStarted }
            let result = box.persist(job)
            let elapsed = Clock.boottime() - started
            shared.monitor.locked {
                shared.writeStarted = 0
                let sample = PersistCompletionSample(jobs: ids.count, nanoseconds: elapsed,
                                                     timing: (try? result.get()) ?? SyncTiming(),
                                                     failed: (try? result.get()) == nil)
                if shared.history.count < historyCapacity {
                    shared.history.append(sample)
                } else {
                    shared.history[shared.historyNext] = sample
                }
                shared.historyNext = (shared.historyNext + 1) % historyCapacity
            }
            completion(PersistCompletion(jobs: ids, result: result, nanoseconds: elapsed))
        }
        box.directory = nil // closes the files and releases the lock before join returns
    }
}

/// PersistCompletionSample is one write's cost, kept for the agent's metrics and benchmarks.
public struct PersistCompletionSample: Sendable, Equatable {
    /// jobs is how many submitted jobs this write covered.
    public var jobs: Int
    public var nanoseconds: UInt64
    public var timing: SyncTiming
    public var failed: Bool
}
