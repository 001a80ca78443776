/// The formats `faultline check --format` writes.
package enum ReportFormat: String, CaseIterable, Sendable {
    /// For people at a terminal: plain text, no colour codes.
    case text
    /// For tools: the report model encoded as is (`snake_case` keys, sorted, pretty printed).
    case json
    /// For CI: JUnit XML, one test suite per rule, one test case per rule result.
    case junit
    /// For the post-incident review: one self-contained page with an SVG timeline.
    case html
}
