// How names, incarnations and groups become numbers (design S6).
public import RaftCore

/// nodeID derives a member's core id from its name (FNV-1a, 32 bits), so a persisted vote
/// keeps naming the same member whatever the order of the members. A name whose id
/// collides with a member's is refused when it is added (`MembershipRequest.apply`).
public func nodeID(forName name: String) -> NodeID {
    var h: UInt32 = 2_166_136_261
    for b in name.utf8 { h = (h ^ UInt32(b)) &* 16_777_619 }
    return NodeID(h == 0 ? 1 : h)
}

/// fnv64 is FNV-1a over bytes: enough to tell two member lists apart (nobody chooses
/// them adversarially: the peers already hold the cluster secret).
func fnv64(_ bytes: [UInt8], seed: UInt64 = 0xcbf2_9ce4_8422_2325) -> UInt64 {
    var h = seed
    for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
    return h
}

/// groupFingerprint names a group by its founding members' names (in order) and its
/// `--cluster-id`: members bootstrapped from different member lists get different
/// fingerprints and refuse each other, rather than forming overlapping groups. Addresses
/// are left out: each member may reach the others by its own route (a proxy, NAT), so
/// their `--peers` may differ in addresses and still found one group. Never 0 (which
/// means "not known yet", a member waiting to be added).
public func groupFingerprint(clusterName: String, founders: [(name: String, peerAddress: String)]) -> UInt64 {
    var bytes = Array("baton-group-v1\u{0}\(clusterName)\u{0}".utf8)
    for f in founders.sorted(by: { $0.name < $1.name }) {
        bytes += Array("\(f.name)\u{0}".utf8)
    }
    let h = fnv64(bytes)
    return h == 0 ? 1 : h
}

/// legacyIncarnation is the incarnation a data dir of the first release is given when it
/// is migrated: derived from the member's name, so every member of an upgraded group
/// binds the same values without talking (the first release had no incarnations, so
/// nothing stronger can be known about those data dirs). A data dir made after the
/// upgrade draws a random one, which never equals it in practice.
public func legacyIncarnation(memberName: String) -> UInt64 {
    fnv64(Array("baton-legacy-incarnation\u{0}\(memberName)".utf8)) | 1
}
