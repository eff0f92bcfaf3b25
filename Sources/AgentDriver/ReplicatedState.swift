// The agent's replicated state machine: what committed entries of the agent's own kind
// (`Entry.Payload.data`) build up on every member in the same order, and what a
// snapshot carries of it. Membership lives in the core's configuration; this holds the
// rest (the operator controls of issue 16 add their records here). Entries are applied
// only once the write that holds them is durable (Ready.committedEntries).
import RaftCore

/// ReplicatedState is the state every member derives from the committed log.
struct ReplicatedState: Equatable {
    /// appliedIndex is the last index applied (or covered by the snapshot restored).
    private(set) var appliedIndex: LogIndex = 0
    /// formatVersion is the first byte of the encoded state (snapshots carry it).
    static let formatVersion: UInt8 = 1

    init() {}

    /// init(snapshot:) restores what a snapshot carried; an empty or unknown app state
    /// (a snapshot written by a release that kept none) starts empty at its index.
    init(snapshot: Snapshot?) {
        appliedIndex = snapshot?.index ?? 0
    }

    mutating func apply(_ entry: Entry) {
        guard entry.index > appliedIndex else { return }
        appliedIndex = entry.index
    }

    func encoded() -> [UInt8] { [Self.formatVersion] }
}
