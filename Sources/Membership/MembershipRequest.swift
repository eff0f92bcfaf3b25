// What `baton members add|remove|set` (POST /members, DELETE /members/NAME) asks for, as
// a new configuration for the leader to propose, with an error that says what is wrong.
public import RaftCore

/// MembershipRequest is one change an operator asks for.
public enum MembershipRequest: Hashable, Sendable {
    /// Add `name`: a voter or witness joins as a learner and is promoted once caught up;
    /// an observer joins as an observer.
    case add(name: String, peerAddress: String, apiAddress: String, role: MemberRole, priority: UInt16)
    case remove(name: String)
    /// Change a member's priority (0: never takes office).
    case setPriority(name: String, priority: UInt16)
}

/// MembershipRequestError is a refusal with the HTTP status it maps to: 400 a bad
/// request, 404 no such member, 409 it conflicts with the membership as it is.
public struct MembershipRequestError: Error, Hashable, Sendable, CustomStringConvertible {
    public var status: Int
    public var message: String
    public init(_ status: Int, _ message: String) { self.status = status; self.message = message }
    public var description: String { message }
}

extension MembershipRequest {
    /// apply returns the configuration with this change made to `c`, or why not. The core
    /// checks again what only it knows (one change at a time, its term committed).
    public func apply(to c: Configuration) throws(MembershipRequestError) -> Configuration {
        var members = c.members
        switch self {
        case .add(let name, let peer, let api, let role, let priority):
            guard isValidMemberName(name) else {
                throw MembershipRequestError(400, "'\(name)' is not a valid member name (1–63 letters, digits, '-', '_', '.')")
            }
            guard role == .voter || role == .witness || role == .observer else {
                throw MembershipRequestError(400, "a member is added as a voter, a witness or an observer")
            }
            for (what, address) in [("peer", peer), ("API", api)] where !address.isEmpty && !isHostPort(address) {
                throw MembershipRequestError(400, "the \(what) address '\(address)' is not HOST:PORT")
            }
            guard !peer.isEmpty else { throw MembershipRequestError(400, "a new member needs its peer address (HOST:PORT)") }
            if let existing = c.member(named: name) {
                throw MembershipRequestError(409, "'\(name)' is already a member (\(existing.role)); to replace it, remove it first: baton members remove \(name)")
            }
            let id = nodeID(forName: name)
            if let clash = c.member(id) {
                throw MembershipRequestError(409, "the name '\(name)' maps to the same id as member '\(clash.name)'; choose another name")
            }
            if let twin = c.members.first(where: { !$0.peerAddress.isEmpty && $0.peerAddress.lowercased() == peer.lowercased() }) {
                throw MembershipRequestError(409, "member '\(twin.name)' already has the peer address \(peer); each member needs its own")
            }
            members.append(Member(id: id, name: name, role: role == .observer ? .observer : .learner,
                                  promotesTo: role == .observer ? nil : role, priority: priority,
                                  incarnation: 0, peerAddress: peer, apiAddress: api))
        case .remove(let name):
            guard let k = members.firstIndex(where: { $0.name == name }) else {
                throw MembershipRequestError(404, "'\(name)' is not a member (members: \(c.members.map(\.name).joined(separator: ", ")))")
            }
            members.remove(at: k)
        case .setPriority(let name, let priority):
            guard let k = members.firstIndex(where: { $0.name == name }) else {
                throw MembershipRequestError(404, "'\(name)' is not a member (members: \(c.members.map(\.name).joined(separator: ", ")))")
            }
            guard members[k].priority != priority else {
                throw MembershipRequestError(409, "'\(name)' already has priority \(priority)")
            }
            members[k].priority = priority
        }
        let new = Configuration(members: members)
        do { try new.validate() } catch { throw MembershipRequestError(409, error.message) }
        return new
    }
}

/// promotion is the next logged change the leader makes on its own: a learner that holds
/// everything committed — and, on its way to voter, says it would take office (its
/// start-up hook finished, its check passes) — becomes what it was added as, with the
/// incarnation it was heard with bound. One at a time (the core accepts one change in
/// flight); nil when none is due.
public func promotion(in c: Configuration, commitIndex: LogIndex,
                      progress: (NodeID) -> (matchIndex: LogIndex, canLead: Bool)?,
                      seenIncarnation: (NodeID) -> UInt64?) -> (configuration: Configuration, member: String)? {
    var members = c.members
    for k in members.indices where members[k].role == .learner {
        let m = members[k]
        guard let p = progress(m.id), p.matchIndex >= commitIndex, let seen = seenIncarnation(m.id), seen != 0 else { continue }
        if m.promotesTo == .voter && !p.canLead { continue }
        if m.incarnation != 0 && m.incarnation != seen { continue }
        members[k].role = m.promotesTo
        members[k].incarnation = seen
        return (Configuration(members: members), m.name)
    }
    return nil
}

/// isValidMemberName: 1–63 letters, digits, `-`, `_`, `.` (names appear in logs,
/// headers, hook environments and the peer handshake).
public func isValidMemberName(_ s: String) -> Bool {
    !s.isEmpty && s.utf8.count <= Limits.maxMemberNameBytes
        && s.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }
}

/// isHostPort: `HOST:PORT` with a DNS name, an IPv4 address or a bracketed IPv6 address
/// and a port in 1...65535 (the shape AgentConfig's HostPort accepts).
public func isHostPort(_ s: String) -> Bool {
    guard s.utf8.count <= Limits.maxAddressBytes else { return false }
    let host: Substring, port: Substring
    if s.hasPrefix("[") {
        guard let close = s.firstIndex(of: "]"), s[s.index(after: close)...].hasPrefix(":") else { return false }
        host = s[s.index(after: s.startIndex)..<close]
        port = s[s.index(close, offsetBy: 2)...]
    } else {
        guard let colon = s.lastIndex(of: ":") else { return false }
        host = s[..<colon]
        port = s[s.index(after: colon)...]
        if host.contains(":") { return false }
    }
    guard !host.isEmpty, host.count <= 253, host.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-._:".contains($0)) }),
          let p = UInt16(port), p > 0 else { return false }
    return true
}
