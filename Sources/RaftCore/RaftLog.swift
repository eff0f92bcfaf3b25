/// RaftLog is a node's log after its latest snapshot, and the configurations it holds.
///
/// Indexes up to `snapshot.index` are compacted: only their last term is known
/// (`snapshot.term`), and they are committed by construction. A node that has not
/// received any state yet (waiting to be added) has no snapshot and an empty log, and
/// no configuration.
struct RaftLog: Sendable {
    private(set) var snapshot: Snapshot?
    /// entries[k] has index `snapshotIndex + k + 1`.
    private(set) var entries: [Entry] = []
    /// The configuration entries in `entries`, in order, with their indexes.
    private(set) var configurations: [(index: LogIndex, configuration: Configuration)] = []
    /// The payload bytes of `entries` (`Entry.dataBytes`).
    private(set) var dataBytes = 0

    init(snapshot: Snapshot?, entries: [Entry]) {
        self.snapshot = snapshot
        self.entries = entries
        for e in entries {
            if case .configuration(let c) = e.payload { configurations.append((e.index, c)) }
            dataBytes += e.dataBytes
        }
    }

    var snapshotIndex: LogIndex { snapshot?.index ?? 0 }
    var snapshotTerm: Term { snapshot?.term ?? 0 }
    var firstIndex: LogIndex { snapshotIndex + 1 }
    var lastIndex: LogIndex { snapshotIndex + LogIndex(entries.count) }
    var lastTerm: Term { entries.last?.term ?? snapshotTerm }
    var count: Int { entries.count }

    /// term(at:) is the term of the entry at `index`: 0 for index 0, the snapshot's term at
    /// its index, nil where it is unknown (compacted below the snapshot, or beyond the end).
    func term(at index: LogIndex) -> Term? {
        if index == snapshotIndex { return snapshotTerm }
        if index < snapshotIndex || index > lastIndex { return nil }
        return entries[Int(index - snapshotIndex) - 1].term
    }

    func entry(at index: LogIndex) -> Entry {
        precondition(index > snapshotIndex && index <= lastIndex, "RaftLog: entry \(index) is not held")
        return entries[Int(index - snapshotIndex) - 1]
    }

    /// slice returns the entries from `from` through `through` (both held).
    func slice(from: LogIndex, through: LogIndex) -> [Entry] {
        guard from <= through else { return [] }
        precondition(from > snapshotIndex && through <= lastIndex, "RaftLog: slice \(from)...\(through) is not held")
        return Array(entries[Int(from - snapshotIndex) - 1..<Int(through - snapshotIndex)])
    }

    /// latestConfiguration is the configuration in force: the last one appended, else the
    /// snapshot's; nil before any state was received.
    var latestConfiguration: Configuration? { configurations.last?.configuration ?? snapshot?.configuration }
    /// latestConfigurationIndex is where it was appended (the snapshot's index for the
    /// snapshot's configuration).
    var latestConfigurationIndex: LogIndex { configurations.last?.index ?? snapshotIndex }

    /// memberSince(_:) is the index of the configuration from which `member` has been a
    /// member without a break (the earliest held if the run reaches the snapshot); nil if
    /// the configuration in force does not hold it. What was heard of the member before
    /// that index is of an earlier membership — possibly another data dir.
    func memberSince(_ member: NodeID) -> LogIndex? {
        guard latestConfiguration?.member(member) != nil else { return nil }
        var since = latestConfigurationIndex
        for (index, c) in configurations.reversed() {
            guard c.member(member) != nil else { return since }
            since = index
        }
        if let s = snapshot, s.configuration.member(member) != nil { return s.index }
        return since
    }

    /// configuration(before:) is the configuration in force just before `index`.
    func configuration(before index: LogIndex) -> Configuration? {
        configurations.last { $0.index < index }?.configuration ?? snapshot?.configuration
    }

    /// configuration(atOrBefore:) is the configuration in force at `index`.
    func configuration(atOrBefore index: LogIndex) -> Configuration? {
        configurations.last { $0.index <= index }?.configuration ?? snapshot?.configuration
    }

    mutating func append(_ entry: Entry) {
        precondition(entry.index == lastIndex + 1, "RaftLog: entry \(entry.index) does not follow \(lastIndex)")
        entries.append(entry)
        dataBytes += entry.dataBytes
        if case .configuration(let c) = entry.payload { configurations.append((entry.index, c)) }
    }

    /// truncate removes every entry with an index ≥ `index` (above the snapshot).
    mutating func truncate(from index: LogIndex) {
        precondition(index > snapshotIndex, "RaftLog: cannot truncate into the snapshot")
        guard index <= lastIndex else { return }
        let cut = Int(index - snapshotIndex) - 1
        dataBytes -= entries[cut...].reduce(0) { $0 + $1.dataBytes }
        entries.removeSubrange(cut...)
        configurations.removeAll { $0.index >= index }
    }

    /// compact replaces the entries up to `snapshot.index` (held, or beyond the log when a
    /// leader's snapshot is installed) by `snapshot`. Entries after it are kept only when
    /// the log holds the snapshot's last entry with the same term (Raft thesis §5.1).
    mutating func compact(to newSnapshot: Snapshot) {
        let keepFrom: Int
        if newSnapshot.index <= lastIndex, term(at: newSnapshot.index) == newSnapshot.term {
            keepFrom = Int(newSnapshot.index - snapshotIndex)
        } else {
            keepFrom = entries.count
        }
        dataBytes -= entries[0..<keepFrom].reduce(0) { $0 + $1.dataBytes }
        entries.removeSubrange(0..<keepFrom)
        configurations.removeAll { $0.index <= newSnapshot.index }
        snapshot = newSnapshot
    }
}
