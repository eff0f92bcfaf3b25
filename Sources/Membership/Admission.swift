// Whom an agent serves once a peer has proved it holds the cluster secret (design S6).
public import RaftCore

/// AdmissionRefusal is why an authenticated peer is not served; the agent sends it to the
/// peer (the peer protocol's refusal frame) so the refused side can say what to do.
public struct AdmissionRefusal: Hashable, Sendable, CustomStringConvertible {
    public enum Kind: Hashable, Sendable {
        /// Bootstrapped into another group (a different founding member list).
        case otherGroup
        /// A member whose data dir was replaced: not the incarnation the group binds.
        case staleIncarnation
    }
    public var kind: Kind
    public var reason: String
    public var description: String { reason }
}

/// admission decides whether to serve an authenticated peer (its name, incarnation and
/// group fingerprint, as it proved them): nil serves it. The core checks the incarnation
/// of every message too — this is where the refused side learns why.
public func admission(name: String, incarnation: UInt64, fingerprint peerFingerprint: UInt64,
                      configuration: Configuration?, fingerprint: UInt64) -> AdmissionRefusal? {
    if fingerprint != 0 && peerFingerprint != 0 && peerFingerprint != fingerprint {
        return AdmissionRefusal(kind: .otherGroup, reason: "\(name) was bootstrapped with another member list than this group (fingerprint \(hex(peerFingerprint)), ours \(hex(fingerprint))): every founding member needs the same --peers. Wipe the data dir of the member that is wrong and add it with 'baton members add'")
    }
    if let m = configuration?.member(named: name), m.incarnation != 0, m.incarnation != incarnation {
        return AdmissionRefusal(kind: .staleIncarnation, reason: "the group knows \(name) as incarnation \(hex(m.incarnation)), but it came back as \(hex(incarnation)): its data dir was replaced, so it cannot vote as that member. Run 'baton members remove \(name)' and then 'baton members add \(name) \(m.peerAddress.isEmpty ? "HOST:PORT" : m.peerAddress)' on any member")
    }
    return nil
}

/// hex shows an incarnation or fingerprint as 16 hex digits.
public func hex(_ v: UInt64) -> String {
    let s = String(v, radix: 16)
    return String(repeating: "0", count: max(0, 16 - s.count)) + s
}
