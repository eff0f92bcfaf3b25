import Testing
@testable import RaftCore

/// The core's side of `Limits`: settings past them are refused by `Options.validate`
/// (an error naming the limit, never a trap), proposals past them are dropped, and the
/// appends a leader builds stay within the count and byte budget the wire accepts.
@Suite struct CoreLimitsTests {
    @Test(arguments: [
        ("maxEntriesPerAppend", 0, "max entries per append must be in 1...64"),
        ("maxEntriesPerAppend", Limits.maxEntriesPerAppend + 1, "max entries per append must be in 1...64"),
        ("maxLogEntries", 0, "max log entries must be in 1...1000000"),
        ("maxLogEntries", Limits.maxLogEntries + 1, "max log entries must be in 1...1000000"),
    ] as [(String, Int, String)])
    func settingsPastTheLimitsAreRefused(setting: String, value: Int, fragment: String) {
        var o = Options()
        if setting == "maxEntriesPerAppend" { o.maxEntriesPerAppend = value } else { o.maxLogEntries = value }
        do { try o.validate(); Issue.record("\(setting) = \(value) accepted") } catch {
            #expect(error.message.contains(fragment), "\(error.message)")
        }
        // Refused when a node is made with them, too.
        #expect(throws: OptionsError.self) {
            _ = try RaftNode(id: NodeID(1), configuration: Configuration(voters: [NodeID(1)]), options: o,
                             restoring: PersistentState(), seed: 1, now: .zero)
        }
    }

    @Test func theLimitsThemselvesAreValidSettings() throws {
        var o = Options()
        o.maxEntriesPerAppend = Limits.maxEntriesPerAppend
        o.maxLogEntries = Limits.maxLogEntries
        try o.validate()
    }

    /// A follower is cut off while the leader takes large and small proposals; when it
    /// is back, every append it is sent stays within the limits and it catches up.
    @Test func appendsStayWithinTheCountAndByteBudget() throws {
        var c = try TinyCluster(count: 3)
        c.run(until: Instant.zero + .seconds(1))
        let leader = try #require(c.inOffice().first)
        let lagging = (leader + 1) % 3
        c.down.insert(lagging)
        func propose(_ bytes: Int) { c.apply(leader, c.nodes[leader].handle(.propose([UInt8](repeating: 1, count: bytes)), now: c.now)) }
        let before = c.nodes[leader].lastLogIndex
        // Past the entry limit: dropped, nothing appended.
        propose(Limits.maxEntryDataBytes + 1)
        #expect(c.nodes[leader].lastLogIndex == before)
        // At the entry limit: accepted. Then enough to need several appends by bytes
        // (20 × 60 KiB > 512 KiB) and by count (150 small ones > 64).
        propose(Limits.maxEntryDataBytes)
        for _ in 0..<20 { propose(60 * 1024) }
        for _ in 0..<150 { propose(10) }
        #expect(c.nodes[leader].lastLogIndex == before + 171)
        c.run(until: c.now + .milliseconds(50))
        c.down.remove(lagging)
        var appends = 0, largestCount = 0, largestData = 0
        let end = c.now + .seconds(2)
        while c.now < end {
            for (_, m) in c.inFlight {
                guard case .append(_, _, let entries, _, _) = m.body else { continue }
                appends += 1
                let data = entries.reduce(0) { $0 + $1.dataBytes }
                largestCount = max(largestCount, entries.count)
                largestData = max(largestData, data)
                #expect(entries.count <= Limits.maxEntriesPerAppend)
                #expect(data <= Limits.maxAppendDataBytes)
            }
            c.run(until: c.now + .microseconds(500))  // messages take 1 ms: each is seen in flight
        }
        // Both bounds were reached: the byte budget and the count.
        #expect(appends > 0 && largestCount == Limits.maxEntriesPerAppend)
        #expect(largestData > Limits.maxAppendDataBytes - 60 * 1024)
        #expect(c.nodes[lagging].lastLogIndex == c.nodes[leader].lastLogIndex)
        for n in c.nodes { #expect(n.logDataBytes == n.log.reduce(0) { $0 + $1.dataBytes }) }
    }
}
