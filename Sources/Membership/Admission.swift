// Whom an agent serves once a peer has proved it holds the cluster secret (design S6).
public import PeerWire
public import RaftCore

/// admission decides whether to serve an authenticated peer: nil serves it; a refusal
/// names the fix and is sent to it. The core checks every message's incarnation too —
/// this is where the refused side learns why.
public func admission(of peer: PeerIdentity, configuration: Configuration?, fingerprint: UInt64) -> Refusal? {
    if fingerprint != 0 && peer.fingerprint != 0 && peer.fingerprint != fingerprint {
        return Refusal(.otherGroup, "\(peer.name) was bootstrapped with another member list than this group (fingerprint \(hex(peer.fingerprint)), ours \(hex(fingerprint))): every founding member needs the same --peers. Wipe the data dir of the member that is wrong and add it with 'baton members add'")
    }
    if let m = configuration?.member(named: peer.name), m.incarnation != 0, m.incarnation != peer.incarnation {
        return Refusal(.staleIncarnation, "the group knows \(peer.name) as incarnation \(hex(m.incarnation)), but it came back as \(hex(peer.incarnation)): its data dir was replaced, so it cannot vote as that member. Run 'baton members remove \(peer.name)' and then 'baton members add \(peer.name) \(m.peerAddress.isEmpty ? "HOST:PORT" : m.peerAddress)' on any member")
    }
    return nil
}

func hex(_ v: UInt64) -> String {
    let s = String(v, radix: 16)
    return String(repeating: "0", count: max(0, 16 - s.count)) + s
}
