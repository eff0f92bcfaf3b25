import RaftCore

/// PendingWrite is one Ready's durable part and the messages that wait for it. Writes
/// complete in order (one disk queue per node), and a Ready's messages leave only once
/// its write and every earlier one are durable (design S5, the Ready contract).
struct PendingWrite {
    var hardState: HardState?
    var truncateFrom: LogIndex?
    var entries: [Entry]
    var messages: [Message]
    var completeAtNs: Int64
}

/// SimDisk is a node's storage: what is durable, and the writes still in flight. A crash
/// drops the in-flight writes entirely — nothing of a Ready survives unless its fsync
/// completed.
struct SimDisk {
    var hardState = HardState()
    var log: [Entry] = []
    /// prefixHashes[i] hashes the durable entries 1...i+1 (for Log Matching).
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
    let isWitness: Bool
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
    var deferred: [EventQueue.ScheduledEvent] = []
    /// tickToken invalidates older timer events when the deadline moves.
    var tickToken: UInt32 = 0
    var scheduledTickNs: Int64 = SimClock.neverRealNs
    /// spinTicks counts consecutive ticks after which the core's deadline was still due.
    var spinTicks = 0

    init(id: NodeID, isWitness: Bool, clock: SimClock, rng: SeededGenerator) {
        self.id = id; self.isWitness = isWitness; self.clock = clock; self.rng = rng
    }

    var isUp: Bool { raft != nil }
}
