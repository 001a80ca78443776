import Foundation

/// How replay names an operation: the unit a verdict is about.
///
/// HTTP: the method and the route, numeric and UUID path segments folded into `{id}`
/// and the query dropped (`POST /charges/17?x=1` → `POST /charges/{id}`). RESP: the
/// command, upper case; `SET ... NX` is an operation of its own, `SET NX`, because
/// its repeat is harmless where a plain `SET`'s may not be. The checker's own naming
/// (`RequestOperation`, internal to FaultlineChecker) folds paths the same way.
public enum ReplayOperationName {
    public static func http(method: String, target: String) -> String {
        "\(method.uppercased()) \(Self.fold(target))"
    }

    /// `words[0]` is the command; `SET key value ... NX ...` → `SET NX`.
    public static func resp(words: [String]) -> String {
        guard let first = words.first else { return "message" }
        let command = first.uppercased()
        if command == "SET", words.count > 3, words.dropFirst(3).contains(where: { $0.uppercased() == "NX" }) {
            return "SET NX"
        }
        return command
    }

    /// Line framing: the first word of the line (`deposit 10` → `deposit`), as the
    /// checker names line messages.
    public static func line(_ bytes: [UInt8]) -> String? {
        let word = bytes.prefix(64).prefix { $0 > 0x20 && $0 < 0x7F }
        return word.isEmpty ? nil : String(decoding: word, as: UTF8.self)
    }

    /// `/charges/123/refunds/9f1c…?x=1` → `/charges/{id}/refunds/{id}`.
    public static func fold(_ target: String) -> String {
        var path = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? target
        // An absolute-form target (`http://host/a`): keep only the path.
        if let scheme = path.range(of: "://") {
            let rest = path[scheme.upperBound...]
            path = rest.firstIndex(of: "/").map { String(rest[$0...]) } ?? "/"
        }
        let folded = path.split(separator: "/", omittingEmptySubsequences: false)
            .map { Self.looksLikeID($0) ? "{id}" : String($0) }
            .joined(separator: "/")
        return folded.isEmpty ? "/" : folded
    }

    static func looksLikeID(_ segment: Substring) -> Bool {
        guard !segment.isEmpty else { return false }
        if segment.allSatisfy(\.isNumber) { return true }
        let hex = segment.filter { $0 != "-" }
        if segment.count == 36, hex.count == 32, hex.allSatisfy(\.isHexDigit) { return true }
        return segment.count >= 16 && segment.allSatisfy(\.isHexDigit)
    }
}
