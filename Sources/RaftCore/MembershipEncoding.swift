/// The one binary layout of a configuration and of a snapshot, shared by the peer wire
/// (PeerWire) and the data dir (Storage), so the two cannot drift apart. Little-endian,
/// length-prefixed, every size checked against `Limits` before anything is allocated;
/// decoding malformed bytes throws, never traps.
///
/// Configuration: u32 member count, then per member: u32 id, u8 role, u8 promotes-to,
/// u16 priority, u64 incarnation, and name, peer address, API address as u16 length +
/// UTF-8 bytes. Snapshot: u64 index, u64 term, u32 configuration length + configuration,
/// u32 app-state length + app state.
extension Configuration {
    public func encoded() -> [UInt8] {
        var w = LittleEndianWriter()
        w.u32(UInt32(members.count))
        for m in members {
            w.u32(m.id.rawValue); w.u8(m.role.rawValue); w.u8(m.promotesTo.rawValue)
            w.u16(m.priority); w.u64(m.incarnation)
            w.string(m.name); w.string(m.peerAddress); w.string(m.apiAddress)
        }
        return w.bytes
    }

    public init(decoding bytes: ArraySlice<UInt8>) throws(ConfigurationError) {
        var r = LittleEndianReader(bytes)
        let count = Int(try r.u32("member count"))
        guard count <= Configuration.membersMax else {
            throw ConfigurationError("configuration of \(count) members (the limit is \(Configuration.membersMax))")
        }
        var members: [Member] = []
        members.reserveCapacity(count)
        for _ in 0..<count {
            let id = NodeID(try r.u32("member id"))
            guard let role = MemberRole(rawValue: try r.u8("role")),
                  let promotesTo = MemberRole(rawValue: try r.u8("promotes-to role")) else {
                throw ConfigurationError("unknown member role")
            }
            let priority = try r.u16("priority"), incarnation = try r.u64("incarnation")
            let name = try r.string("name", max: Limits.maxMemberNameBytes)
            let peer = try r.string("peer address", max: Limits.maxAddressBytes)
            let api = try r.string("API address", max: Limits.maxAddressBytes)
            members.append(Member(id: id, name: name, role: role, promotesTo: promotesTo, priority: priority,
                                  incarnation: incarnation, peerAddress: peer, apiAddress: api))
        }
        guard r.isAtEnd else { throw ConfigurationError("trailing bytes after the configuration") }
        self.init(members: members)
        try validate()
    }
}

extension Snapshot {
    public func encoded() -> [UInt8] {
        var w = LittleEndianWriter()
        w.u64(index); w.u64(term)
        let c = configuration.encoded()
        w.u32(UInt32(c.count)); w.raw(c)
        w.u32(UInt32(appState.count)); w.raw(appState)
        return w.bytes
    }

    public init(decoding bytes: ArraySlice<UInt8>) throws(ConfigurationError) {
        guard bytes.count <= Limits.maxSnapshotBytes else {
            throw ConfigurationError("snapshot of \(bytes.count) bytes (the limit is \(Limits.maxSnapshotBytes))")
        }
        var r = LittleEndianReader(bytes)
        let index = try r.u64("snapshot index"), term = try r.u64("snapshot term")
        let configBytes = try r.take(Int(try r.u32("configuration length")), "configuration")
        let configuration = try Configuration(decoding: configBytes)
        let stateCount = Int(try r.u32("app state length"))
        guard stateCount <= Limits.maxSnapshotAppStateBytes else {
            throw ConfigurationError("snapshot app state of \(stateCount) bytes (the limit is \(Limits.maxSnapshotAppStateBytes))")
        }
        let appState = Array(try r.take(stateCount, "app state"))
        guard r.isAtEnd else { throw ConfigurationError("trailing bytes after the snapshot") }
        self.init(index: index, term: term, configuration: configuration, appState: appState)
    }
}

/// LittleEndianWriter appends fixed-width integers and length-prefixed strings.
struct LittleEndianWriter {
    var bytes: [UInt8] = []
    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) { for k in 0..<2 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * k))) } }
    mutating func u32(_ v: UInt32) { for k in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * k))) } }
    mutating func u64(_ v: UInt64) { for k in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * k))) } }
    mutating func raw(_ b: [UInt8]) { bytes.append(contentsOf: b) }
    mutating func string(_ s: String) {
        let utf8 = Array(s.utf8)
        u16(UInt16(truncatingIfNeeded: utf8.count))
        raw(utf8)
    }
}

/// LittleEndianReader reads what the writer wrote; running short or a bad string throws.
struct LittleEndianReader {
    let bytes: ArraySlice<UInt8>
    var position: Int

    init(_ bytes: ArraySlice<UInt8>) { self.bytes = bytes; position = bytes.startIndex }

    var isAtEnd: Bool { position == bytes.endIndex }

    mutating func take(_ n: Int, _ what: String) throws(ConfigurationError) -> ArraySlice<UInt8> {
        guard n >= 0, bytes.endIndex - position >= n else { throw ConfigurationError("truncated \(what)") }
        defer { position += n }
        return bytes[position..<position + n]
    }

    mutating func integer<T: FixedWidthInteger & UnsignedInteger>(_: T.Type, _ what: String) throws(ConfigurationError) -> T {
        let raw = try take(MemoryLayout<T>.size, what)
        var v: T = 0
        for (k, b) in raw.enumerated() { v |= T(b) << (8 * k) }
        return v
    }

    mutating func u8(_ what: String) throws(ConfigurationError) -> UInt8 { try integer(UInt8.self, what) }
    mutating func u16(_ what: String) throws(ConfigurationError) -> UInt16 { try integer(UInt16.self, what) }
    mutating func u32(_ what: String) throws(ConfigurationError) -> UInt32 { try integer(UInt32.self, what) }
    mutating func u64(_ what: String) throws(ConfigurationError) -> UInt64 { try integer(UInt64.self, what) }

    mutating func string(_ what: String, max: Int) throws(ConfigurationError) -> String {
        let n = Int(try u16("\(what) length"))
        guard n <= max else { throw ConfigurationError("\(what) of \(n) bytes (the limit is \(max))") }
        let raw = try take(n, what)
        guard let s = String(validating: raw, as: UTF8.self) else { throw ConfigurationError("\(what) is not UTF-8") }
        return s
    }
}
