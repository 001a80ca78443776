import CYaml

/// Bounds on the shape of a profile's YAML, checked before the text is composed into
/// nodes, so a hostile file is refused in one pass of libyaml's event parser with no
/// tree built.
///
/// Composing trusts the text: each alias stands for its whole anchored node, and Yams
/// hashes mapping keys to find duplicates. Ten anchors, each a list of ten aliases to
/// the one before ("billion laughs"), describe 10^10 nodes in a few hundred bytes; used
/// as mapping keys they make composing hash them all. Nesting is bounded too: composing
/// recurses once per level. A real profile has a few hundred nodes, nested a handful
/// deep; the limits are far above that and far below harm.
///
///     a0: &a0 [lol, lol, …]           10 nodes
///     a1: &a1 [*a0, *a0, …]          100 nodes (each alias counts its anchor's size)
///     a9: &a9 [*a8, *a8, …]   10,000,000,000 nodes → refused at a6, line 7
enum ProfileShape {
    /// Nodes the document stands for, aliases counted at their anchor's full size.
    static let maxNodes = 100_000
    /// Collections inside collections.
    static let maxDepth = 64

    /// Where and why the text's shape is refused, or nil when it is within bounds or is
    /// not valid YAML (composing reports that, with its own line and column).
    ///
    /// - Parameter kind: what the file is, for messages ("a profile", "a run file").
    static func problem(in text: String, kind: String = "a profile") -> (line: Int, column: Int, message: String)? {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else { return nil }
        defer { yaml_parser_delete(&parser) }
        var utf8 = Array(text.utf8)
        return utf8.withUnsafeMutableBufferPointer { bytes in
            yaml_parser_set_input_string(&parser, bytes.baseAddress, bytes.count)
            return Self.walk(&parser, kind: kind)
        }
    }

    /// A collection not yet closed.
    private struct Frame {
        /// The anchor it will be registered under.
        var anchor: String?
        /// Nodes it stands for so far, aliases counted at their anchor's size.
        var size = 1
        /// For a mapping: whether its next node is a key, and the keys it has had with
        /// their lines, so a duplicate key is said where it is repeated (composing says
        /// only where the first one is). Nil for a list.
        var keys: (expectKey: Bool, seen: [String: Int])?
    }

    private static func walk(_ parser: inout yaml_parser_t, kind: String) -> (line: Int, column: Int, message: String)? {
        /// The size of each anchored node, by anchor name.
        var anchors: [String: Int] = [:]
        var open: [Frame] = []
        var total = 0
        var sawAlias = false
        var event = yaml_event_t()
        while yaml_parser_parse(&parser, &event) == 1 {
            defer { yaml_event_delete(&event) }
            let mark = (line: Int(event.start_mark.line) + 1, column: Int(event.start_mark.column) + 1)
            var added = 0
            var finished: Frame?
            switch event.type {
            case YAML_SCALAR_EVENT, YAML_ALIAS_EVENT, YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
                // A node begins: in a mapping, every other one is a key.
                guard let last = open.indices.last, var keys = open[last].keys else { break }
                if keys.expectKey, event.type == YAML_SCALAR_EVENT {
                    // Plain and quoted keys apart: `1` and `"1"` are different keys.
                    let plain = event.data.scalar.plain_implicit == 1
                    let text = Self.text(event.data.scalar.value, length: event.data.scalar.length)
                    let key = (plain ? "plain:" : "quoted:") + text
                    if let first = keys.seen[key] {
                        return (mark.line, mark.column, "duplicate key '\(text)': each key may appear once per mapping (first at line \(first))")
                    }
                    keys.seen[key] = mark.line
                }
                keys.expectKey.toggle()
                open[last].keys = keys
            default:
                break
            }
            switch event.type {
            case YAML_STREAM_END_EVENT:
                return nil
            case YAML_SCALAR_EVENT:
                added = 1
                if let anchor = Self.name(event.data.scalar.anchor) { anchors[anchor] = 1 }
            case YAML_ALIAS_EVENT:
                // An unknown alias is the composer's error to report.
                added = Self.name(event.data.alias.anchor).flatMap { anchors[$0] } ?? 1
                sawAlias = true
            case YAML_SEQUENCE_START_EVENT:
                open.append(Frame(anchor: Self.name(event.data.sequence_start.anchor)))
                total += 1
            case YAML_MAPPING_START_EVENT:
                open.append(Frame(anchor: Self.name(event.data.mapping_start.anchor), keys: (true, [:])))
                total += 1
            case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                finished = open.popLast()
            default:
                break
            }
            if open.count > Self.maxDepth {
                return (mark.line, mark.column, "collections nested more than \(Self.maxDepth) deep; \(kind) needs a handful of levels")
            }
            total += added
            if let finished {
                if let anchor = finished.anchor { anchors[anchor] = finished.size }
                added = finished.size
            }
            if !open.isEmpty {
                let (size, overflow) = open[open.count - 1].size.addingReportingOverflow(added)
                open[open.count - 1].size = overflow ? Int.max : size
            }
            if total > Self.maxNodes || (open.last?.size ?? 0) > Self.maxNodes {
                // Only a text with aliases is a possible alias bomb; a long one without is
                // just long (15,000 rules, made by a script).
                let message = sawAlias
                    ? "aliases and anchors expand to more than \(Self.maxNodes) values (a YAML alias bomb?); \(kind) needs no more than a few hundred"
                    : "more than \(Self.maxNodes) values; \(kind) needs no more than a few hundred"
                return (mark.line, mark.column, message)
            }
        }
        return nil
    }

    private static func text(_ pointer: UnsafeMutablePointer<yaml_char_t>?, length: Int) -> String {
        guard let pointer else { return "" }
        return String(decoding: UnsafeBufferPointer(start: pointer, count: length), as: UTF8.self)
    }

    private static func name(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        pointer.map { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
    }
}
