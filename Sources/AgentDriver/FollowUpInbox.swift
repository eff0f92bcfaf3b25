// A driver never re-enters itself or its engine (style rule 21): what an effect causes
// in return is queued here and taken after the current step is fully applied.

/// FollowUpInbox is a bounded queue of follow-ups: one input's follow-ups are caused by
/// a handful of hook and office changes, so a long chain means a loop (a bug: trap).
struct FollowUpInbox<FollowUp> {
    private var items: [FollowUp] = []
    private var head = 0
    private var taken = 0
    /// stepsMax bounds the follow-ups of one input (style rule 11).
    static var stepsMax: Int { 10_000 }

    mutating func push(_ f: FollowUp) {
        precondition(items.count - head <= Self.stepsMax, "more than \(Self.stepsMax) follow-ups queued by one input")
        items.append(f)
    }

    /// pop takes the next follow-up; nil once the inbox is empty (ready for the next input).
    mutating func pop() -> FollowUp? {
        guard head < items.count else {
            items.removeAll(keepingCapacity: true)
            head = 0
            taken = 0
            return nil
        }
        taken += 1
        precondition(taken <= Self.stepsMax, "follow-ups did not settle")
        head += 1
        return items[head - 1]
    }
}
