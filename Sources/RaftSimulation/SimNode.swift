import RaftCore

/// PendingWrite is one Ready's durable part and the messages that wait for it. Writes
/// complete in order (one disk queue per node), and a Ready's messages leave only once
/// its write and every earlier one are durable (design S5, the Ready contract).
struct PendingWrite {
    var hardState: HardState?
    var snapshot: Snapshot?
    var truncateFrom: LogIndex?
    var persistID: UInt64?
    var entries: [Entry]
    var messages: [Message]
    var completeAtNs: Int64
}

/// SimDisk is a node's storage: what is durable, and the writes still in flight. A crash
/// drops the in-flight writes entirely — nothing of a Ready survives unless its fsync
/// completed.
struct SimDisk {
    var hardState = HardState()
    /// The durable snapshot (nil: a member waiting to be added that received nothing).
    var snapshot: Snapshot?
    /// The durable entries after the snapshot.
    var log: [Entry] = []
    /// baseHash hashes the log prefix the snapshot stands for (for Log Matching).
    var baseHash: UInt64 = 0x5151
    /// prefixHashes[k] hashes the durable prefix through index snapshotIndex + k + 1.
    var prefixHashes: [UInt64] = []
    var pending: [PendingWrite] = []
    var pendingHead = 0
    /// lastCompleteNs is when the newest pending write becomes durable.
    var lastCompleteNs: Int64 = 0
    /// fsyncMinNs...fsyncMaxNs is this disk's usual fsync latency; spikePpm of writes
    /// take up to fsyncSpikeMaxNs.
    var fsyncMinNs: Int64 = 50_000
    var fsyncMaxNs: Int64 = 500_000
    var fsyncSpikePpm: UInt64 = 0
    var fsyncSpikeMaxNs: Int64 = 0

    var hasPending: Bool { pendingHead < pending.count }
    var snapshotIndex: LogIndex { snapshot?.index ?? 0 }
    var lastIndex: LogIndex { snapshotIndex + LogIndex(log.count) }

    /// prefixHash(at:) is the hash of the durable prefix through `index`, when held.
    func prefixHash(at index: LogIndex) -> UInt64? {
        if index == snapshotIndex { return baseHash }
        if index < snapshotIndex || index > lastIndex { return nil }
        return prefixHashes[Int(index - snapshotIndex) - 1]
    }

    func term(at index: LogIndex) -> Term? {
        if index == snapshotIndex { return snapshot?.term ?? 0 }
        if index < snapshotIndex || index > lastIndex { return nil }
        return log[Int(index - snapshotIndex) - 1].term
    }

    /// wipe loses everything: the data dir was deleted.
    mutating func wipe() {
        hardState = HardState()
        snapshot = nil
        log = []
        baseHash = 0x5151
        prefixHashes = []
        dropPending()
        lastCompleteNs = 0
    }

    var persistentState: PersistentState { PersistentState(hardState: hardState, snapshot: snapshot, log: log) }

    mutating func dropPending() {
        pending.removeAll(keepingCapacity: true)
        pendingHead = 0
    }

    mutating func popPending() -> PendingWrite {
        let write = pending[pendingHead]
        pendingHead += 1
        if pendingHead == pending.count {
            pending.removeAll(keepingCapacity: true)
            pendingHead = 0
        }
        return write
    }

    mutating func sampleFsyncNs(_ g: inout SeededGenerator) -> Int64 {
        if fsyncSpikePpm > 0 && g.chance(ppm: fsyncSpikePpm) { return g.uniform(fsyncMaxNs, fsyncSpikeMaxNs) }
        return g.uniform(fsyncMinNs, fsyncMaxNs)
    }
}

/// SimNode is one simulated machine: its clock (which runs whether or not the agent
/// does), its disk, and the agent process — `raft` is nil while the process is dead.
struct SimNode {
    let id: NodeID
    /// The incarnation of the node's current data dir (a wipe draws a new one).
    var incarnation: UInt64
    var clock: SimClock
    var raft: RaftNode?
    var disk = SimDisk()
    var rng: SeededGenerator
    /// life counts process starts; events addressed to an earlier life are stale.
    var life: UInt32 = 0
    /// paused: the process is stopped (SIGSTOP); its events wait in `deferred` until the
    /// resume event whose payload matches `pauseToken`.
    var paused = false
    var pauseToken: UInt32 = 0
    var deferred: [EventQueue<EventKind>.ScheduledEvent] = []
    /// tickToken invalidates older timer events when the deadline moves.
    var tickToken: UInt32 = 0
    var scheduledTickNs: Int64 = SimClock.neverRealNs
    /// spinTicks counts consecutive ticks after which the core's deadline was still due.
    var spinTicks = 0
    /// bootstrapOnRestart: after a wipe, the machine restarts with `--bootstrap`.
    var bootstrapOnRestart = false

    init(id: NodeID, incarnation: UInt64, clock: SimClock, rng: SeededGenerator) {
        self.id = id; self.incarnation = incarnation; self.clock = clock; self.rng = rng
    }

    var isUp: Bool { raft != nil }
    /// isWitness: a witness in the configuration in force on it now.
    var isWitness: Bool { raft?.isWitness ?? false }
}
