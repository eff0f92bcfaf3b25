// Timers ordered by deadline in a binary heap, so the loop arms one timerfd for the
// nearest deadline (redis ae.c keeps a list; libuv and Go's runtime use a heap — the
// heap keeps insert and pop at O(log n) for thousands of timers).

/// TimerID names a scheduled timer so it can be cancelled or moved.
public struct TimerID: Hashable, Sendable {
    let raw: UInt64
}

/// TimerHeap is a min-heap of (deadline, sequence) with lazy deletion: cancelling or
/// moving a timer leaves its old entry in place, and `EventLoop` skips entries whose
/// sequence no longer matches the timer's record. `EventLoop` calls `removeAll(where:)`
/// once stale entries outnumber live ones, so a cancelled 5-minute hold does not keep
/// its entry for 5 minutes: the heap stays within max(64, 2 × live timers).
struct TimerHeap {
    struct Entry {
        var deadlineNs: UInt64
        /// sequence breaks ties (first scheduled fires first) and marks stale entries.
        var sequence: UInt64
        var id: UInt64
        @inline(__always) static func < (a: Entry, b: Entry) -> Bool {
            a.deadlineNs != b.deadlineNs ? a.deadlineNs < b.deadlineNs : a.sequence < b.sequence
        }
    }

    private(set) var entries: [Entry] = []

    var isEmpty: Bool { entries.isEmpty }
    var top: Entry? { entries.first }
    var count: Int { entries.count }

    mutating func push(_ entry: Entry) {
        entries.append(entry)
        var child = entries.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            if !(entries[child] < entries[parent]) { break }
            entries.swapAt(child, parent)
            child = parent
        }
    }

    @discardableResult
    mutating func pop() -> Entry? {
        guard !entries.isEmpty else { return nil }
        let first = entries[0]
        let last = entries.removeLast()
        if !entries.isEmpty {
            entries[0] = last
            siftDown(from: 0)
        }
        return first
    }

    /// removeAll(where:) drops the matching entries and restores heap order in O(n)
    /// (Floyd's bottom-up construction), releasing the storage the dropped ones used.
    mutating func removeAll(where isStale: (Entry) -> Bool) {
        var kept: [Entry] = []
        kept.reserveCapacity(entries.count / 2 + 1)
        for entry in entries where !isStale(entry) { kept.append(entry) }
        entries = kept
        var parent = entries.count / 2 - 1
        while parent >= 0 {
            siftDown(from: parent)
            parent -= 1
        }
    }

    private mutating func siftDown(from start: Int) {
        var parent = start
        let n = entries.count
        while true {
            let left = 2 * parent + 1
            if left >= n { return }
            var smallest = left
            if left + 1 < n && entries[left + 1] < entries[left] { smallest = left + 1 }
            if !(entries[smallest] < entries[parent]) { return }
            entries.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
