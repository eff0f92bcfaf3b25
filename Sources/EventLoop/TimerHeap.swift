// Timers ordered by deadline in a binary heap, so the loop arms one timerfd for the
// nearest deadline (redis ae.c keeps a list; libuv and Go's runtime use a heap — the
// heap keeps insert and pop at O(log n) for thousands of timers).

/// TimerID names a scheduled timer so it can be cancelled or moved.
public struct TimerID: Hashable, Sendable {
    let raw: UInt64
}

/// TimerHeap is a min-heap of (deadline, sequence) with lazy deletion: cancelling or
/// moving a timer leaves its old entry in place, and `EventLoop` skips entries whose
/// sequence no longer matches the timer's record.
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
            var parent = 0
            let n = entries.count
            while true {
                let left = 2 * parent + 1
                if left >= n { break }
                var smallest = left
                if left + 1 < n && entries[left + 1] < entries[left] { smallest = left + 1 }
                if !(entries[smallest] < entries[parent]) { break }
                entries.swapAt(parent, smallest)
                parent = smallest
            }
        }
        return first
    }
}
