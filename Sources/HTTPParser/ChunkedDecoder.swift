// The chunked transfer coding (RFC 9112 §7.1), decoded incrementally for a client that
// reads a streaming response (etcd's watch and keep-alive answers arrive as chunks that
// never end while the stream lives). Pure: bytes in, body bytes out, every size capped.

/// ChunkedDecoder turns chunked bytes into body bytes, keeping its place between calls.
public struct ChunkedDecoder: Sendable {
    /// Limits caps what the coding itself may cost (the body's total is the caller's).
    public struct Limits: Hashable, Sendable {
        /// chunkSizeLineBytesMax: the size line with its extensions, CRLF excluded.
        public var chunkSizeLineBytesMax: Int = 256
        /// chunkBytesMax: one chunk's declared size.
        public var chunkBytesMax: Int = 16 << 20
        /// trailerBytesMax: all trailer fields together.
        public var trailerBytesMax: Int = 4096
        public init() {}
    }

    /// Outcome is how a `decode` call left the body.
    public enum Outcome: Hashable, Sendable {
        /// More chunked bytes are needed.
        case needMore
        /// The last chunk and the trailer ended; the body is complete.
        case done
        /// The coding is broken or over a limit.
        case invalid(String)
    }

    enum State: Hashable, Sendable {
        case sizeLine(size: Int, digits: Int, inExtension: Bool, lineBytes: Int, sawCR: Bool)
        case data(remaining: Int)
        case dataCR
        case dataLF
        case trailer(lineBytes: Int, totalBytes: Int, sawCR: Bool)
        case done
        case failed(String)
    }

    let limits: Limits
    var state: State = .sizeLine(size: 0, digits: 0, inExtension: false, lineBytes: 0, sawCR: false)

    public init(limits: Limits = Limits()) { self.limits = limits }

    /// isDone says whether the final chunk and trailer were read.
    public var isDone: Bool { state == .done }

    /// decode(_:into:) consumes chunked bytes from `input`, appends the body bytes they
    /// carry to `body`, and returns how many input bytes it used (all of them unless the
    /// body ended or the coding failed) and the outcome.
    public mutating func decode(_ input: UnsafeRawBufferPointer, into body: inout [UInt8]) -> (consumed: Int, outcome: Outcome) {
        var i = 0
        while i < input.count {
            switch state {
            case .done:
                return (i, .done)
            case .failed(let reason):
                return (i, .invalid(reason))
            case .data(let remaining):
                let n = min(remaining, input.count - i)
                body.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[i..<(i + n)]))
                i += n
                state = remaining == n ? .dataCR : .data(remaining: remaining - n)
            case .dataCR:
                state = input[i] == ASCII.cr ? .dataLF : .failed("chunk data not followed by CRLF")
                i += 1
            case .dataLF:
                state = input[i] == ASCII.lf ? .sizeLine(size: 0, digits: 0, inExtension: false, lineBytes: 0, sawCR: false)
                                             : .failed("chunk data not followed by CRLF")
                i += 1
            case .sizeLine(var size, var digits, var inExtension, var lineBytes, let sawCR):
                let b = input[i]
                i += 1
                if sawCR {
                    guard b == ASCII.lf else { state = .failed("bare CR in a chunk size line"); continue }
                    guard digits > 0 else { state = .failed("chunk size line without a size"); continue }
                    state = size == 0 ? .trailer(lineBytes: 0, totalBytes: 0, sawCR: false) : .data(remaining: size)
                    continue
                }
                if b == ASCII.cr { state = .sizeLine(size: size, digits: digits, inExtension: inExtension, lineBytes: lineBytes, sawCR: true); continue }
                lineBytes += 1
                guard lineBytes <= limits.chunkSizeLineBytesMax else { state = .failed("chunk size line longer than the limit"); continue }
                if inExtension {
                    guard ByteClass.isFieldValueChar(b) else { state = .failed("control byte in a chunk extension"); continue }
                } else if let v = ByteClass.hexValue(b) {
                    size = size * 16 + Int(v)
                    digits += 1
                    guard size <= limits.chunkBytesMax else { state = .failed("chunk larger than the limit"); continue }
                } else if (b == UInt8(ascii: ";") || ByteClass.isOWS(b)) && digits > 0 {
                    inExtension = true
                } else {
                    state = .failed("chunk size is not hexadecimal")
                    continue
                }
                state = .sizeLine(size: size, digits: digits, inExtension: inExtension, lineBytes: lineBytes, sawCR: false)
            case .trailer(var lineBytes, var totalBytes, let sawCR):
                let b = input[i]
                i += 1
                if sawCR {
                    guard b == ASCII.lf else { state = .failed("bare CR in the trailer"); continue }
                    state = lineBytes == 0 ? .done : .trailer(lineBytes: 0, totalBytes: totalBytes, sawCR: false)
                    continue
                }
                if b == ASCII.cr { state = .trailer(lineBytes: lineBytes, totalBytes: totalBytes, sawCR: true); continue }
                guard ByteClass.isFieldValueChar(b) else { state = .failed("control byte in the trailer"); continue }
                lineBytes += 1
                totalBytes += 1
                guard totalBytes <= limits.trailerBytesMax else { state = .failed("trailer larger than the limit"); continue }
                state = .trailer(lineBytes: lineBytes, totalBytes: totalBytes, sawCR: false)
            }
        }
        switch state {
        case .done: return (i, .done)
        case .failed(let reason): return (i, .invalid(reason))
        default: return (i, .needMore)
        }
    }
}
