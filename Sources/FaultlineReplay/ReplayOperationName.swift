import FaultlineChecker
import Foundation

/// How replay names an operation: the unit a verdict is about.
///
/// HTTP: the method and the route, numeric and UUID path segments folded into `{id}`
/// and the query dropped (`POST /charges/17?x=1` → `POST /charges/{id}`). RESP: the
/// command, upper case; `SET ... NX` is an operation of its own, `SET NX`, because
/// its repeat is harmless where a plain `SET`'s may not be. Paths are folded by the
/// checker's `RequestOperation.fold`, so both checks name a route alike.
package enum ReplayOperationName {
    package static func http(method: String, target: String) -> String {
        "\(method.uppercased()) \(Self.fold(target))"
    }

    /// `words[0]` is the command; `SET key value ... NX ...` → `SET NX`.
    package static func resp(words: [String]) -> String {
        guard let first = words.first else { return "message" }
        let command = first.uppercased()
        if command == "SET", words.count > 3, words.dropFirst(3).contains(where: { $0.uppercased() == "NX" }) {
            return "SET NX"
        }
        return command
    }

    /// Line framing: the first word of the line (`deposit 10` → `deposit`), as the
    /// checker names line messages.
    package static func line(_ bytes: [UInt8]) -> String? {
        let word = bytes.prefix(64).prefix { $0 > 0x20 && $0 < 0x7F }
        return word.isEmpty ? nil : String(decoding: word, as: UTF8.self)
    }

    /// `/charges/123/refunds/9f1c…?x=1` → `/charges/{id}/refunds/{id}`, as the checker folds.
    package static func fold(_ target: String) -> String {
        RequestOperation.fold(target)
    }
}
