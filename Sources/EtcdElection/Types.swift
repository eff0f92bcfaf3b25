// The election's inputs, outputs and settings as values (style rules 2 and 23: one
// event type in, one Ready out that says everything that happened).
public import EtcdAPI
public import Time

/// FencingToken is an office's token: its election key's create revision, strictly
/// increasing across offices (the same width as the Raft engine's term, design S3).
public typealias FencingToken = UInt64

/// EtcdRequestID names one call the election asked for; its reply comes back with it.
public struct EtcdRequestID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let raw: UInt64
    public init(raw: UInt64) { self.raw = raw }
    public static func < (a: Self, b: Self) -> Bool { a.raw < b.raw }
    public var description: String { "r\(raw)" }
}

/// EtcdRequest is a call for the driver to start with the etcd client, to be answered
/// (or failed) within `timeout`.
public struct EtcdRequest: Hashable, Sendable {
    public var id: EtcdRequestID
    public var call: EtcdCall
    public var timeout: Interval
}

/// CandidateInfo is what a candidate publishes in its election key's value: who it is
/// and where to reach it, so every agent can answer /leader.
public struct CandidateInfo: Hashable, Sendable {
    public var name: String
    public var apiAddress: String
    public var peerAddress: String
    public init(name: String, apiAddress: String, peerAddress: String = "") {
        self.name = name; self.apiAddress = apiAddress; self.peerAddress = peerAddress
    }
}

/// EtcdLeader is who leads as this agent sees it: the candidate whose key has the
/// lowest create revision. `token` is that create revision, the fencing token.
public struct EtcdLeader: Hashable, Sendable {
    public var info: CandidateInfo?
    public var token: FencingToken
    public var key: [UInt8]
    /// isSelf: the key is this agent's own current key.
    public var isSelf: Bool
}

/// EtcdOffice is this agent's current term of office.
public struct EtcdOffice: Hashable, Sendable {
    /// token is the election key's create revision (strictly increasing across offices).
    public var token: FencingToken
    public var since: Instant
    /// leaseDeadline: the office ends then unless a keep-alive sent before it succeeds.
    public var leaseDeadline: Instant
}

/// EtcdEnterReason says what made the agent leader.
public enum EtcdEnterReason: String, Hashable, Sendable {
    /// Its key was first in line when it was created.
    case firstInLine = "first-in-line"
    /// The keys ahead of it were deleted or expired (a leader resigned, stopped or died).
    case successor
}

/// EtcdLeaveReason says why the agent left office; the raw values match the Raft
/// engine's BATON_REASON words where the meaning is the same.
public enum EtcdLeaveReason: String, Hashable, Sendable {
    /// No keep-alive succeeded in time (etcd slow, partitioned or down), or etcd said
    /// the lease is gone.
    case leaseLost = "lease-lost"
    /// The election key was deleted by someone else.
    case keyDeleted = "key-deleted"
    /// Planned hand-over (`baton resign`, `POST /resign`).
    case transfer
    /// The agent is stopping.
    case shutdown
    /// The application's check failed.
    case checkFailed = "check-failed"
    /// The promote hook failed.
    case promoteFailed = "promote-failed"
}

/// EtcdOfficeChange is the election's decision that this agent starts or stops leading.
public enum EtcdOfficeChange: Hashable, Sendable {
    case enter(token: FencingToken, leaseDeadline: Instant, reason: EtcdEnterReason)
    case leave(token: FencingToken, reason: EtcdLeaveReason)
}

/// EtcdElectionEvent is every input of the election; each comes with `now`.
public enum EtcdElectionEvent: Hashable, Sendable {
    /// Timers: deliver at or after `nextDeadline` (earlier or more often is harmless).
    case tick
    /// The answer to a request (for a watch: one message, then a failure when it ends).
    case reply(EtcdRequestID, Result<EtcdReply, EtcdFailure>)
    /// Let the agent contend (true) or hold it back (false: start-up hook running,
    /// check failing). Holding back withdraws a waiting candidacy but does not end an
    /// office (use `.resign` for that).
    case setCampaignAllowed(Bool)
    /// Leave office now for `reason` and hand over to the next candidate; contend
    /// again at the back of the line if still allowed. Ignored when not in office.
    case resign(EtcdLeaveReason)
    /// Leave office (if in it), give up the lease and stop; `Ready.stopped` says when.
    case shutdown
    /// The demote hook for the office `token` finished (or there is none): only now is
    /// its lease revoked, so the successor's promote starts after this demote (S4).
    case demoteFinished(token: FencingToken)
}

/// EtcdElectionReady is the output of one step. Apply in order: office changes first
/// (a leave is visible before anything else), then start `requests`, cancel `cancels`.
public struct EtcdElectionReady: Hashable, Sendable {
    public var officeChanges: [EtcdOfficeChange] = []
    public var requests: [EtcdRequest] = []
    /// cancels are requests (watches) whose answers are no longer wanted.
    public var cancels: [EtcdRequestID] = []
    /// leaderChanged: `leader` differs from before this step.
    public var leaderChanged = false
    /// stopped: after `.shutdown`, the lease is revoked (or given up on); exit now.
    public var stopped = false
    public init() {}
    public var isEmpty: Bool { officeChanges.isEmpty && requests.isEmpty && cancels.isEmpty && !leaderChanged && !stopped }
}

/// EtcdElectionOptions are the election's settings; `validate` checks them together.
public struct EtcdElectionOptions: Hashable, Sendable {
    /// candidate is what this agent publishes.
    public var candidate: CandidateInfo
    /// prefix is the cluster's key prefix (`/baton/CLUSTER`); election keys live under
    /// `prefix/election/`, one per candidate, named by its lease id.
    public var prefix: String
    /// leaseTTL is asked of etcd in whole seconds (etcd 3.4 raises anything below its
    /// minimum, 2 s with default timing); the TTL etcd grants is what the arithmetic uses.
    public var leaseTTL: Interval = .seconds(2)
    /// maxDrift is `d` of design §2: clock rates of this host and etcd's leader differ
    /// by at most this fraction.
    public var maxDrift: Double = 0.05
    /// margin covers timer slack and the time from reading the clock to answering.
    public var margin: Interval = .milliseconds(50)
    /// keepAliveInterval: a keep-alive is sent this long after the previous one was.
    /// Defaults to nearly the longest the lease rule allows (see `defaultKeepAliveInterval`).
    public var keepAliveInterval: Interval? = nil
    /// callTimeout bounds every call but the watch; defaults to a third of the keep-alive
    /// interval capped at 1 s, so a renewal that times out still leaves time for two
    /// retries before the office would lapse.
    public var callTimeout: Interval? = nil
    /// retryInitial / retryMax: back-off for calls that failed (grant, campaign, range,
    /// watch, revoke), doubling per failure.
    public var retryInitial: Interval = .milliseconds(100)
    public var retryMax: Interval = .seconds(2)
    /// candidateCountMax: candidates read per range; more are read again as needed.
    public var candidateCountMax: Int = 1000
    /// abandonedLeaseCountMax: leases still to revoke; beyond it the oldest is left to expire.
    public var abandonedLeaseCountMax: Int = 16

    /// valueBytesMax bounds a candidate's published value.
    public static let valueBytesMax = 1024
    /// leaseTTLMax bounds the TTL (etcd's own maximum is 9,000,000,000 s; an hour is
    /// already a failover nobody wants).
    public static let leaseTTLMax = Interval.seconds(3600)

    public init(candidate: CandidateInfo, prefix: String) {
        self.candidate = candidate
        self.prefix = prefix
    }

    /// officeFraction is (1−d)/(1+d): the share of a TTL this agent can count on.
    public var officeFraction: Double { (1 - maxDrift) / (1 + maxDrift) }

    public var effectiveKeepAliveInterval: Interval {
        keepAliveInterval ?? Self.defaultKeepAliveInterval(ttl: leaseTTL, officeFraction: officeFraction, margin: margin)
    }
    public var effectiveCallTimeout: Interval {
        callTimeout ?? min(Interval(nanoseconds: effectiveKeepAliveInterval.nanoseconds / 3), .seconds(1))
    }

    /// defaultKeepAliveInterval is 98 % of the longest interval the rule below allows,
    /// `(TTL·(1−d)/(1+d) − margin) / 2` (862 ms at TTL 2 s, 4.41 s at 10 s). Why not
    /// shorter: failover after a crash is the TTL minus the age of the dead holder's last
    /// renewal, so renewing more often only makes successors wait longer (measured in
    /// bench/etcd-backend: p50 2.09 s at TTL/4 against 1.85 s here, at TTL 2 s), and costs
    /// etcd more requests; the office still outlives one failed renewal and two retries.
    public static func defaultKeepAliveInterval(ttl: Interval, officeFraction: Double, margin: Interval) -> Interval {
        (ttl.scaled(by: officeFraction) - margin).scaled(by: 0.49)
    }

    /// OptionError names the setting and the fix.
    public struct OptionError: Error, Hashable, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// validate() refuses settings under which the office could not outlast one failed
    /// renewal: `2·keepAliveInterval + margin < TTL·(1−d)/(1+d)` (the Raft lease's rule
    /// with the keep-alive in the heartbeat's place), and every bound out of range.
    public func validate() throws(OptionError) {
        func fail(_ s: String) -> OptionError { OptionError(description: s) }
        guard !candidate.name.isEmpty else { throw fail("the candidate needs a name (--id)") }
        guard prefix.hasPrefix("/"), !prefix.hasSuffix("/"), prefix.utf8.count <= 256 else {
            throw fail("etcd prefix '\(prefix)' must start with '/', not end with '/', and be at most 256 bytes (e.g. /baton/main)")
        }
        guard leaseTTL.nanoseconds % 1_000_000_000 == 0, leaseTTL >= .seconds(1), leaseTTL <= Self.leaseTTLMax else {
            throw fail("etcd lease TTL \(leaseTTL) must be whole seconds between 1s and 3600s")
        }
        guard maxDrift >= 0, maxDrift < 0.5 else { throw fail("max drift \(maxDrift) must be in [0, 0.5)") }
        guard margin >= .zero else { throw fail("margin cannot be negative") }
        let interval = effectiveKeepAliveInterval
        guard interval >= .milliseconds(10) else { throw fail("keep-alive interval \(interval) is below 10ms") }
        let office = leaseTTL.scaled(by: officeFraction)
        guard interval * 2 + margin < office else {
            throw fail("keep-alive interval \(interval) is too long for a \(leaseTTL) lease: 2 × interval + margin \(margin) must stay under TTL·(1−d)/(1+d) = \(office)")
        }
        guard effectiveCallTimeout > .zero, effectiveCallTimeout <= interval * 2 else {
            throw fail("call timeout \(effectiveCallTimeout) must be positive and at most twice the keep-alive interval")
        }
        guard retryInitial > .zero, retryMax >= retryInitial else { throw fail("retry back-off out of range") }
        guard candidateCountMax >= 1, candidateCountMax <= 100_000 else { throw fail("candidate count limit out of range") }
        guard abandonedLeaseCountMax >= 1 else { throw fail("abandoned lease limit out of range") }
        guard CandidateInfo.encode(candidate).count <= Self.valueBytesMax else {
            throw fail("name and addresses take more than \(Self.valueBytesMax) bytes")
        }
    }
}
