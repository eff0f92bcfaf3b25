// GET /leader?wait=30s&term=T[&leader=ID]: answer as soon as the leader or the term
// differs from what the caller last saw, else when the wait ends.
import AgentLogging
import AgentConfig
import AgentDriver
import EventLoop
import HTTPParser
import HTTPServer
import PeerTransport
import Posix
import Membership
import RaftCore
import Time

/// SeenLeader is the `leader` a long-poll caller last saw.
enum SeenLeader: Equatable {
    /// The caller did not say: only the term is compared.
    case unspecified
    /// `leader=` (empty): the caller saw no leader.
    case none
    case node(String)
    /// A name that is not a member: differs from every view, so it is answered at once.
    case unknownName
}

/// LeaderView is what a `/leader` answer says: its term and the leader it names.
struct LeaderView: Equatable {
    var term: Term
    var leader: String?

    func differs(term seenTerm: Term?, leader seenLeader: SeenLeader) -> Bool {
        if let seenTerm, seenTerm != term { return true }
        switch seenLeader {
        case .unspecified: return false
        case .none: return leader != nil
        case .node(let id): return leader != id
        case .unknownName: return true
        }
    }
}

/// LongPollWaiter is one held `/leader` request and what its caller saw.
struct LongPollWaiter {
    var held: HeldRequest
    var term: Term?
    var leader: SeenLeader
}

/// LongPollWaiters holds the waiting requests. A waiter costs an array slot and an
/// index entry and no timer of ours (the server's hold timer ends its wait); a change
/// is answered in waves of `batchSize`, one batch per loop pass, so peer traffic is
/// served between batches.
struct LongPollWaiters {
    /// batchSize: answers written per loop pass during a wave.
    static let batchSize = 256
    /// waitMax caps `wait` (the 5 minutes; the server's hold cap is the same).
    static let waitMax = Interval.minutes(5)

    private(set) var list: [LongPollWaiter] = []
    private var position: [HeldRequest: Int] = [:]
    /// cursor: the next waiter a running wave examines.
    var cursor = 0
    var waveRunning = false
    /// waveStartNs: boottime of the change that started the running wave.
    var waveStartNs: UInt64 = 0
    var waveAnswered = 0
    var waveBatches = 0

    var count: Int { list.count }

    mutating func add(_ waiter: LongPollWaiter) {
        position[waiter.held] = list.count
        list.append(waiter)
    }

    /// remove drops a waiter (answered or timed out); true if it was there.
    @discardableResult
    mutating func remove(_ held: HeldRequest) -> Bool {
        guard let i = position[held] else { return false }
        remove(at: i)
        return true
    }

    /// remove(at:) swaps the last waiter into slot `i` (a wave re-examines slot `i`).
    mutating func remove(at i: Int) {
        position[list[i].held] = nil
        let last = list.removeLast()
        if i < list.count {
            list[i] = last
            position[last.held] = i
        }
    }

    /// purge drops waiters whose connection is gone (the client hung up: the server
    /// closed it without asking us).
    mutating func purge(isHeld: (HeldRequest) -> Bool) {
        var i = 0
        while i < list.count {
            if isHeld(list[i].held) { i += 1 } else { remove(at: i) }
        }
    }
}

extension LongPollWaiters {
    /// parseWait reads `wait` in the one duration grammar (`Time/DurationText.swift`:
    /// `30s`, `500ms`, `1m30s`), at most `LongPollWaiters.waitMax`. One exception to the
    /// grammar's "a number needs a unit": a bare whole number here is seconds, because the
    /// first release documented `wait=30` and clients written against it must keep
    /// working. Flags and config files refuse a bare number.
    static func parseWait(_ text: String) throws(BadWait) -> Interval {
        let wait: Interval
        if DurationText.isWholeNumber(text) {
            guard text.utf8.count <= 6, let seconds = Int64(text) else { throw BadWait(reason: "longer than the maximum") }
            wait = .seconds(seconds)
        } else {
            do { wait = try Interval(parsing: text) } catch { throw BadWait(reason: error.description) }
        }
        guard wait <= LongPollWaiters.waitMax else { throw BadWait(reason: "longer than the maximum") }
        return wait
    }

    /// BadWait says why a `wait` was refused.
    struct BadWait: Error { var reason: String }
}

extension AgentShell {
    /// leaderView is the view a `/leader` answer at `now` gives, and that answer: the
    /// two come from one decision, so a caller who re-polls with what it was told is
    /// never answered again for nothing.
    func leaderView(at now: Instant) -> (LeaderView, PreparedResponse) {
        if let ms = leaseRemainingMs(at: now) {
            return (LeaderView(term: view.office?.term ?? view.term, leader: settings.id), responses.inOffice.response(remainingMs: ms))
        }
        if view.followerKnowsLeader(at: now) { return (LeaderView(term: view.term, leader: view.leader), responses.follower) }
        return (LeaderView(term: view.term, leader: nil), responses.none)
    }

    /// leaderLongPoll handles `/leader` with a query: `wait` (e.g. 30s, 500ms, 5m; a
    /// bare number is seconds; at most 5m), `term` and `leader` (empty: none) as the
    /// caller last saw them. Without `term` and `leader` the caller's view is taken to
    /// be the current one. A bad value is 400 and holds nothing.
    func leaderLongPoll(_ request: borrowing HTTPRequest) -> HTTPHandlerResult {
        let (seen, answer) = leaderView(at: now())
        var seenTerm: Term? = nil
        if let termText = request.queryParameter("term") {
            guard termText.utf8.count <= 19, termText.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                  let t = Term(termText), t <= Term(Int64.max) else {
                return .respond(badRequest("term must be the term you last saw, a whole number; got '\(termText)'"))
            }
            seenTerm = t
        }
        var seenLeader = SeenLeader.unspecified
        if let leaderText = request.queryParameter("leader") {
            if leaderText.isEmpty { seenLeader = .none }
            else if knowsMember(leaderText) { seenLeader = .node(leaderText) }
            else if isValidMemberName(leaderText) && leaderText.utf8.count <= 63 { seenLeader = .unknownName }
            else { return .respond(badRequest("leader must be a member name (or empty for none); got '\(leaderText)'")) }
        }
        guard let waitText = request.queryParameter("wait") else { return .respond(answer) }
        let wait: Interval
        do { wait = try LongPollWaiters.parseWait(waitText) } catch {
            return .respond(badRequest("wait must be a duration of at most \(LongPollWaiters.waitMax.formatted), like 30s, 500ms or 1m30s; got '\(waitText)': \(error.reason)"))
        }
        if seenTerm == nil && seenLeader == .unspecified {
            seenTerm = seen.term
            seenLeader = seen.leader.map { .node($0) } ?? .none
        }
        if wait == .zero || seen.differs(term: seenTerm, leader: seenLeader) { return .respond(answer) }
        guard let server = apiState.server else { return .respond(answer) }
        // Clients that hung up leave entries the server no longer holds: drop them
        // before they outnumber the live ones.
        if apiState.longPoll.count > 2 * server.heldCount + 1024 {
            apiState.longPoll.purge { server.isHeld($0) }
        }
        apiState.longPoll.add(LongPollWaiter(held: request.held, term: seenTerm, leader: seenLeader))
        return .hold(timeout: wait, onTimeout: responses.none)
    }

    func badRequest(_ reason: String) -> PreparedResponse {
        PreparedResponse(status: 400, headers: commonHeaders(term: view.term),
                         body: Array("{\"reason\":\(AgentLog.json(reason)),\"term\":\(view.term)}\n".utf8))
    }

    /// scheduleLongPollWave starts (or restarts) a wave over the waiters after a change.
    /// It runs from a timer, so the change's own step finishes (and its messages are
    /// handed to storage and the transport) before any waiter is answered.
    func scheduleLongPollWave() {
        guard apiState.longPoll.count > 0 else { return }
        apiState.longPoll.cursor = 0
        if apiState.longPoll.waveRunning { return }
        apiState.longPoll.waveRunning = true
        apiState.longPoll.waveStartNs = Clock.boottime()
        apiState.longPoll.waveAnswered = 0
        apiState.longPoll.waveBatches = 0
        loop.schedule(after: .zero) { [unowned self] _ in self.longPollBatch() }
    }

    /// longPollBatch answers up to `batchSize` waiters whose view changed, then yields
    /// to the loop (a timer due on the next pass, after the descriptors ready then).
    func longPollBatch() {
        guard let server = apiState.server else { return }
        let (seen, answer) = leaderView(at: now())
        var answered = 0
        var examined = 0
        while apiState.longPoll.cursor < apiState.longPoll.count,
              answered < LongPollWaiters.batchSize, examined < 16 * LongPollWaiters.batchSize {
            examined += 1
            let i = apiState.longPoll.cursor
            let w = apiState.longPoll.list[i]
            if !seen.differs(term: w.term, leader: w.leader) {
                apiState.longPoll.cursor += 1
                continue
            }
            apiState.longPoll.remove(at: i)
            if server.complete(w.held, with: answer) {
                answered += 1
                countStatus(answer.status, .leader)
            }
        }
        apiState.longPoll.waveAnswered += answered
        apiState.longPoll.waveBatches += 1
        if apiState.longPoll.cursor < apiState.longPoll.count {
            loop.schedule(after: Interval(nanoseconds: 1)) { [unowned self] _ in self.longPollBatch() }
            return
        }
        apiState.longPoll.waveRunning = false
        if apiState.longPoll.waveAnswered > 0 {
            let delayUs = (Clock.boottime() - apiState.longPoll.waveStartNs) / 1000
            log.event("long-poll-answered", .info, "answered \(apiState.longPoll.waveAnswered) held long-polls", [
                ("waiters", .number(apiState.longPoll.waveAnswered)), ("batches", .number(apiState.longPoll.waveBatches)),
                ("still_waiting", .number(apiState.longPoll.count)),
                ("delay_ms", .double(Double(delayUs) / 1000))], .always)  // one line per wave: bounded by changes
        }
    }
}
