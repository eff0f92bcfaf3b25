// What makes a cluster secret or an admin token file unsafe (issue 15 item 6). The
// checks follow what ssh does for private keys and etcd for its key files: a secret
// readable by other users, too short, or all zeros is either refused (exit 2) or warned
// about at start-up, with the command that fixes it.

/// SecretFileVerdict is what the agent must do about one secret or token file.
public struct SecretFileVerdict: Sendable, Equatable {
    /// Refuse to start (exit 2) with this message (the caller names the flag).
    public var refusal: String?
    /// Start, but log each of these.
    public var warnings: [String]
}

public enum SecretFiles {
    /// The largest secret or token file read (a secret is 32 bytes, not a document).
    public static let bytesMax = 4096
    public static let secretBytesMin = 16
    public static let secretBytesRecommended = 32
    public static let tokenBytesRecommended = 16

    /// clusterSecret judges `--cluster-secret-file`'s content (`nil` when it is over
    /// `bytesMax`) and permission bits.
    public static func clusterSecret(_ bytes: [UInt8]?, mode: UInt32, path: String) -> SecretFileVerdict {
        let flag = "--cluster-secret-file"
        let make = "head -c 32 /dev/urandom > \(path); chmod 600 \(path)"
        guard let bytes else {
            return SecretFileVerdict(refusal: "\(path) holds more than \(bytesMax) bytes; a secret is 32 random bytes: \(make)", warnings: [])
        }
        if bytes.count < secretBytesMin {
            return SecretFileVerdict(refusal: "\(path) holds \(bytes.count) bytes; a secret needs at least \(secretBytesMin), 32 random ones recommended: \(make)", warnings: [])
        }
        if bytes.allSatisfy({ $0 == 0 }) {
            return SecretFileVerdict(refusal: "\(path) holds only zero bytes, which anyone can guess: \(make)", warnings: [])
        }
        var warnings: [String] = []
        if bytes.count < secretBytesRecommended {
            warnings.append("\(flag): \(path) holds \(bytes.count) bytes; 32 random bytes are recommended (\(make))")
        }
        warnings += permissionWarnings(flag: flag, path: path, mode: mode)
        return SecretFileVerdict(refusal: nil, warnings: warnings)
    }

    /// adminToken: warnings about `--admin-token-file` (its content is checked where it
    /// is read: printable, one line).
    public static func adminToken(length: Int, mode: UInt32, path: String) -> [String] {
        var warnings: [String] = []
        if length < tokenBytesRecommended {
            warnings.append("--admin-token-file: the token in \(path) is \(length) bytes; use at least \(tokenBytesRecommended) random ones (head -c 24 /dev/urandom | base64 > \(path))")
        }
        return warnings + permissionWarnings(flag: "--admin-token-file", path: path, mode: mode)
    }

    static func permissionWarnings(flag: String, path: String, mode: UInt32) -> [String] {
        if mode & 0o007 != 0 {
            return ["\(flag): \(path) is accessible to every user (mode \(String(mode & 0o777, radix: 8))); chmod 600 \(path)"]
        }
        if mode & 0o020 != 0 {
            return ["\(flag): \(path) is writable by its group (mode \(String(mode & 0o777, radix: 8))); chmod 600 \(path)"]
        }
        return []
    }
}
