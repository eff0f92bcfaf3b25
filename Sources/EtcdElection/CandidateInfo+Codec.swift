// A candidate's key value: a small JSON object, so `etcdctl get --prefix` shows who is
// in line and a later version can add fields without breaking older readers.
import JSON

extension CandidateInfo {
    /// encode(_:) is the value stored at the candidate's key.
    public static func encode(_ info: CandidateInfo) -> [UInt8] {
        var members: [JSONValue.Member] = [.init("name", .string(info.name)), .init("api", .string(info.apiAddress))]
        if !info.peerAddress.isEmpty { members.append(.init("peer", .string(info.peerAddress))) }
        return Array(JSONValue.object(members).serialized().utf8)
    }

    /// decode(_:) reads a key value; nil when it is not one (a foreign key under the
    /// prefix still counts in line, with its holder shown as unknown).
    public static func decode(_ bytes: [UInt8]) -> CandidateInfo? {
        guard bytes.count <= EtcdElectionOptions.valueBytesMax,
              let v = try? JSONValue.parse(bytes: bytes, limits: JSONLimits(documentBytesMax: EtcdElectionOptions.valueBytesMax)),
              let name = v["name"].string else { return nil }
        return CandidateInfo(name: name, apiAddress: v["api"].string ?? "", peerAddress: v["peer"].string ?? "")
    }
}
