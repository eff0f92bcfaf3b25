/// LogBuffer holds formatted lines the output has not taken yet, up to `capacity`
/// bytes. Ordinary lines may fill it only to `ordinaryLimit`; the rest is a reserve for
/// essential lines (office changes, start and stop), so a flood that fills the buffer
/// cannot crowd out the line saying this node left office. Lines stay in order.
struct LogBuffer {
    let capacity: Int
    let ordinaryLimit: Int
    private var bytes: [UInt8] = []
    private var head = 0

    init(capacity: Int, reserve: Int) {
        precondition(capacity > reserve && reserve >= 0)
        self.capacity = capacity
        self.ordinaryLimit = capacity - reserve
    }

    var pendingBytes: Int { bytes.count - head }
    var isEmpty: Bool { pendingBytes == 0 }

    /// append queues a whole line, or refuses it (false) when it does not fit in the
    /// part of the buffer its kind may use: lines are never cut.
    mutating func append(_ line: [UInt8], essential: Bool) -> Bool {
        let limit = essential ? capacity : ordinaryLimit
        guard pendingBytes + line.count <= limit else { return false }
        if head > 0 && head >= bytes.count / 2 {
            bytes.removeFirst(head)
            head = 0
        }
        bytes += line
        return true
    }

    enum DrainResult: Equatable { case empty, blocked, gone }

    /// drain hands pending bytes to `write` until it takes no more.
    mutating func drain(_ write: (UnsafeRawBufferPointer) -> Int?) -> DrainResult {
        while head < bytes.count {
            let n = bytes.withUnsafeBytes { all in write(UnsafeRawBufferPointer(rebasing: all[head...])) }
            guard let n else { return .gone }
            if n == 0 { return .blocked }
            head += n
        }
        bytes.removeAll(keepingCapacity: bytes.capacity <= 64 * 1024)
        head = 0
        return .empty
    }

    /// discard drops everything pending (the output is gone); returns how many lines.
    mutating func discard() -> Int {
        let lines = bytes[head...].reduce(0) { $0 + ($1 == 0x0a ? 1 : 0) }
        bytes.removeAll()
        head = 0
        return lines
    }
}
