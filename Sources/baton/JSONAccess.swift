// The client reads the agent's answers with the project's one JSON reader (the JSON
// module); these are the conveniences its commands use.
import JSON

extension JSONValue {
    /// read parses an answer body; nil when it is not one JSON document.
    static func read(_ text: String) -> JSONValue? { try? JSONValue.parse(text) }

    /// int is a whole number that fits Int (terms, indexes, milliseconds).
    var int: Int? { int64.flatMap { Int(exactly: $0) } }

    /// items is an array's elements, or none for anything else.
    var items: [JSONValue] { array ?? [] }
}
