// Per-connection state: the socket, a read buffer and a write buffer reused for every
// request on the connection, and where the connection is in the request cycle.
import EventLoop
import HTTPParser
import Posix
import Time

/// Connection is one accepted client. Buffers are allocated once per connection (and
/// grown rarely), never per request.
final class Connection {
    /// Phase says which deadline applies.
    enum Phase {
        /// waiting: between requests (idle timeout), or just accepted (header timeout).
        case waiting
        /// readingHead: some bytes of a request head arrived (header-read timeout → 408).
        case readingHead
        /// readingBody: the head is complete, the body is not (body-read timeout → 408).
        case readingBody
        /// held: a handler holds the request (the hold's own timer applies).
        case held
        /// lingering: answered and shut down for writing; discarding input until EOF.
        case lingering
    }

    /// Hold remembers how to answer a held request later.
    struct Hold {
        var serial: UInt32
        var isHead: Bool
        var versionMinor: UInt8
        var onTimeout: PreparedResponse
        var timer: TimerIDBox
    }

    let socket: FileDescriptor
    let descriptor: Int32
    let generation: UInt32

    var input: UnsafeMutableRawPointer
    var inputCapacity: Int
    /// inputStart..<inputEnd are received bytes not yet consumed by a request.
    var inputStart = 0
    var inputEnd = 0

    var output: UnsafeMutableRawPointer?
    var outputCapacity = 0
    /// outputStart..<outputEnd are answer bytes not yet written to the socket.
    var outputStart = 0
    var outputEnd = 0

    var phase = Phase.waiting
    /// deadline is when the current phase times out.
    var deadline: Instant
    /// writeDeadline is when blocked output times out (nil: none pending).
    var writeDeadline: Instant? = nil
    /// interest is what the loop currently watches for.
    var interest: EpollEvents = .readable
    /// closeAfterWrite: the last answer ends the connection (Connection: close, HTTP/1.0
    /// without keep-alive, an error that leaves the framing untrustworthy).
    var closeAfterWrite = false
    /// peerClosed: the client sent FIN; answer what is buffered, then close.
    var peerClosed = false
    /// sentContinue: `100 Continue` already sent for the current request.
    var sentContinue = false
    /// scannedBytes: how many bytes (from `inputStart`) the parser last saw and called
    /// partial; it is not called again until a line ends or a stride more arrives.
    var scannedBytes = 0
    /// awaitedBytes: head + body size of a request whose body is still arriving (0: none).
    var awaitedBytes = 0
    var hold: Hold?
    var nextSerial: UInt32 = 1
    var isClosed = false

    init(socket: consuming FileDescriptor, generation: UInt32, inputCapacity: Int, deadline: Instant) {
        descriptor = socket.rawValue
        self.socket = socket
        self.generation = generation
        self.inputCapacity = inputCapacity
        input = .allocate(byteCount: inputCapacity, alignment: 16)
        self.deadline = deadline
    }

    deinit {
        input.deallocate()
        output?.deallocate()
        // `socket` closes itself.
    }

    var outputPending: Int { outputEnd - outputStart }
    var inputAvailable: Int { inputEnd - inputStart }

    /// makeInputRoom ensures `count` bytes fit from `inputStart`, moving unconsumed
    /// bytes to the front and growing up to `limit`; false if that is impossible.
    func makeInputRoom(total count: Int, limit: Int) -> Bool {
        if inputStart > 0 && inputCapacity - inputStart < count {
            let pending = inputAvailable
            if pending > 0 { (input).copyMemory(from: input + inputStart, byteCount: pending) }
            inputStart = 0
            inputEnd = pending
        }
        if inputCapacity - inputStart >= count { return true }
        guard count <= limit else { return false }
        var capacity = inputCapacity
        while capacity < count { capacity *= 2 }
        capacity = min(capacity, limit)
        let bigger = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
        bigger.copyMemory(from: input + inputStart, byteCount: inputAvailable)
        input.deallocate()
        input = bigger
        inputCapacity = capacity
        inputEnd = inputAvailable
        inputStart = 0
        return true
    }

    /// reserveOutput returns where `count` more bytes of answer can be written.
    func reserveOutput(_ count: Int) -> UnsafeMutableRawPointer {
        if outputStart == outputEnd { outputStart = 0; outputEnd = 0 }
        if outputCapacity - outputEnd < count {
            if outputStart > 0 {
                let pending = outputPending
                output!.copyMemory(from: output! + outputStart, byteCount: pending)
                outputStart = 0
                outputEnd = pending
            }
            if outputCapacity - outputEnd < count {
                var capacity = max(outputCapacity, 4096)
                while capacity - outputEnd < count { capacity *= 2 }
                let bigger = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
                if let old = output {
                    bigger.copyMemory(from: old, byteCount: outputEnd)
                    old.deallocate()
                }
                output = bigger
                outputCapacity = capacity
            }
        }
        let at = output! + outputEnd
        outputEnd += count
        return at
    }

    /// append copies bytes to the output.
    func append(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        reserveOutput(bytes.count).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
    }
}

/// TimerIDBox wraps the loop's timer name for a hold.
struct TimerIDBox {
    var id: TimerID
}
