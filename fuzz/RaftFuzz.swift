// RaftFuzz.swift: the libFuzzer entry point for the Raft message codec and for the core's
// handling of whatever the codec lets through. fuzz/run.sh compiles it together with
// Sources/RaftCore/*.swift and the codec's files of Sources/PeerWire as one module, with
// ASan, so a trap on arithmetic (an overflowing `term + 1`), an out-of-bounds read or a
// broken invariant is recorded as a crash.
//
// One input is a sequence of records, each `ctl u8, length u16 LE, payload`:
//   - the payload goes to RaftMessageCodec.decode; a decoded message is re-encoded and
//     decoded again (the codec must round-trip), then handed to node n1 as if sent by
//     n2 (ctl bit 0 clear) or n3 (set);
//   - ctl bits 1–3 advance the clock by 0–7 × 40 ms and tick the node first, so elections,
//     pre-votes and lease checks run between messages;
//   - ctl bit 4 proposes an entry, bit 5 asks for a transfer, bit 6 toggles campaigning.

/// The node under test starts with a short log, so the append and vote paths have
/// something to compare against.
func fuzzNode() -> RaftNode {
    var options = Options()
    options.maxEntriesPerAppend = 8
    options.maxLogEntries = 4_096
    let log = (1...3).map { Entry(index: LogIndex($0), term: 1, payload: .noop) }
    let state = PersistentState(hardState: HardState(term: 2, votedFor: nil, commitIndex: 2), log: log)
    return try! RaftNode(id: NodeID(1), configuration: Configuration(voters: [NodeID(1), NodeID(2), NodeID(3)]),
                         options: options, restoring: state, seed: 7, now: Instant(nanoseconds: 1_000_000_000))
}

@_cdecl("LLVMFuzzerTestOneInput")
public func raftFuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    var node = fuzzNode()
    var now = Instant(nanoseconds: 1_000_000_000)
    var at = 0
    var campaignAllowed = true
    while at + 3 <= bytes.count {
        let ctl = bytes[at]
        let length = Int(bytes[at + 1]) | Int(bytes[at + 2]) << 8
        at += 3
        let end = min(bytes.count, at + length)
        let payload = UnsafeRawBufferPointer(rebasing: bytes[at..<end])
        at = end

        let advance = Int64((ctl >> 1) & 7)
        if advance > 0 {
            now = now + .milliseconds(advance * 40)
            check(node.handle(.tick, now: now), node)
        }
        if ctl & 0x10 != 0 { check(node.handle(.propose([ctl]), now: now), node) }
        if ctl & 0x20 != 0 { check(node.handle(.transferLeadership(to: nil), now: now), node) }
        if ctl & 0x40 != 0 {
            campaignAllowed.toggle()
            check(node.handle(.setCampaignAllowed(campaignAllowed), now: now), node)
        }

        guard let decoded = try? RaftMessageCodec.decode(payload) else { continue }
        // Round trip: what the codec accepts, it writes back to the same message.
        let again = try? (try RaftMessageCodec.encode(term: decoded.term, body: decoded.body)).withUnsafeBytes {
            try RaftMessageCodec.decode($0)
        }
        invariant(again?.term == decoded.term && again?.body == decoded.body, "codec round trip")

        let from = NodeID(ctl & 1 == 0 ? 2 : 3)
        let before = node.term
        let ready = node.handle(.message(Message(from: from, to: NodeID(1), term: decoded.term, body: decoded.body)),
                                now: now)
        invariant(node.term >= before, "term went backwards")
        check(ready, node)
    }
    return 0
}

/// check asserts what every Ready and every node state must satisfy, whatever came in.
func check(_ ready: Ready, _ node: RaftNode) {
    invariant(node.term <= Limits.maxTerm, "term beyond the bound")
    invariant(node.commitIndex <= node.lastLogIndex, "commit beyond the log")
    invariant(node.lastLogIndex <= Limits.maxLogIndex, "log index beyond the bound")
    for m in ready.messages {
        invariant(m.term <= Limits.maxTerm, "sent a term beyond the bound")
        // What the core sends, the codec must be able to carry.
        invariant((try? RaftMessageCodec.encode(term: m.term, body: m.body)) != nil, "the codec refuses what the core sent")
    }
    if let h = ready.hardState { invariant(h.term <= Limits.maxTerm, "persisting a term beyond the bound") }
}

/// invariant(_:_:) traps, so libFuzzer records the input as a crash.
@inline(__always)
func invariant(_ condition: Bool, _ message: StaticString) {
    if !condition { fatalError("invariant broken: \(message)") }
}
