// What Prometheus' client libraries export as `process_*` (resident memory, CPU time,
// open descriptors, start time), read from /proc for /metrics (issue 17 point 8).
import Glibc

/// ProcessStats is one reading of this process's resource use.
public struct ProcessStats: Sendable {
    public var residentBytes: UInt64 = 0
    public var virtualBytes: UInt64 = 0
    /// cpuSeconds: user plus system time.
    public var cpuSeconds: Double = 0
    public var openDescriptors: Int = 0
    public var maxDescriptors: UInt64 = 0
    /// startTimeSeconds: when the process started, in seconds since 1970.
    public var startTimeSeconds: Double = 0

    /// read takes the reading now: /proc/self/stat, /proc/self/fd, /proc/stat's btime and
    /// RLIMIT_NOFILE. A field that cannot be read stays 0.
    public static func read() -> ProcessStats {
        var s = ProcessStats()
        let ticks = Double(max(1, sysconf(Int32(_SC_CLK_TCK))))
        let page = UInt64(max(1, sysconf(Int32(_SC_PAGESIZE))))
        if let stat = readFile("/proc/self/stat", limit: 4096) {
            // The command name (field 2) may hold spaces and parentheses: the fields
            // after it start past the last ')'.
            if let close = stat.lastIndex(of: UInt8(ascii: ")")) {
                let fields = stat[(close + 1)...].split(separator: UInt8(ascii: " ")).map { String(decoding: $0, as: UTF8.self) }
                // fields[0] is field 3 (state): utime is 14, stime 15, starttime 22, vsize 23, rss 24.
                func field(_ n: Int) -> UInt64 { n - 3 < fields.count ? UInt64(fields[n - 3].trimmingNewline) ?? 0 : 0 }
                s.cpuSeconds = Double(field(14) + field(15)) / ticks
                s.virtualBytes = field(23)
                s.residentBytes = field(24) * page
                if let boot = bootTimeSeconds() { s.startTimeSeconds = Double(boot) + Double(field(22)) / ticks }
            }
        }
        s.openDescriptors = countDescriptors()
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 { s.maxDescriptors = UInt64(limit.rlim_cur) }
        return s
    }

    /// bootTimeSeconds is `btime` of /proc/stat: when the machine booted, since 1970.
    static func bootTimeSeconds() -> UInt64? {
        guard let text = readFile("/proc/stat", limit: 64 * 1024) else { return nil }
        for line in text.split(separator: UInt8(ascii: "\n")) where line.starts(with: Array("btime ".utf8)) {
            return UInt64(String(decoding: line.dropFirst(6), as: UTF8.self))
        }
        return nil
    }

    static func countDescriptors() -> Int {
        guard let dir = opendir("/proc/self/fd") else { return 0 }
        defer { closedir(dir) }
        var n = 0
        while let entry = readdir(dir) {
            let first = withUnsafeBytes(of: entry.pointee.d_name) { $0[0] }
            if first != UInt8(ascii: ".") { n += 1 }
        }
        return max(0, n - 1)  // the descriptor opendir itself holds
    }

    static func readFile(_ path: String, limit: Int) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while out.count < limit {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            out += buffer[0..<n]
        }
        return out
    }
}

private extension String {
    var trimmingNewline: String { hasSuffix("\n") ? String(dropLast()) : self }
}
