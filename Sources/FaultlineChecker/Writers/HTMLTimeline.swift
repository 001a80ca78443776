/// The SVG timeline of the HTML report: one row per logical request, each attempt a mark
/// from its start to its end coloured by outcome, injected faults over them, backoff gaps
/// labelled, rows with findings marked with their rule ids in red.
///
/// ```
///            0s        1s        2s        3s          ← sticky axis (its own <svg>)
/// faults     ▼         ▼▬▬▬▬▬▬▬▼                       ← every fault, coloured by kind
/// ─ rows with findings (5) ───────────────────────────
/// R7  POST /charges 10.0.0.5 [ambig]─250ms─[ambig]─500ms─[201]   CR-01
/// ─ other requests (45) ──────────────────────────────
/// R1  GET /balance  10.0.0.5 [200]
/// ```
/// Rows with findings come first, so at 10,000 requests they are not lost; a checkbox
/// hides the rest. Rows shrink as they multiply (20 px down to 7 px); below 14 px only
/// every 5th row is labelled and the full label is the row's `<title>` tooltip.
/// Everything from traffic is escaped; ids become `row-…` anchors with any character
/// outside `[A-Za-z0-9.-]` spelled as `_XX` hex (`HTML.anchor`), so links and ids always agree.
struct HTMLTimeline {
    let timeline: CheckReport.Timeline

    static let labelWidth = 326.0
    static let plotWidth = 854.0
    static let endWidth = 130.0
    static var width: Double { Self.labelWidth + Self.plotWidth + Self.endWidth }
    static let headerHeight = 50.0
    static let groupHeight = 20.0

    let rowHeight: Double
    let nsEnd: Int64
    let dense: Bool
    /// Rows with findings (or linked from one), then the rest; each in the timeline's order.
    let flagged: [Int]
    let others: [Int]
    let faultsByRequest: [String: [CheckReport.Timeline.Fault]]
    let ticks: [Int64]
    let rowIDs: Set<String>

    init(_ timeline: CheckReport.Timeline, linked: Set<String>) {
        self.timeline = timeline
        let count = timeline.requests.count
        self.rowHeight = count <= 60 ? 20 : count <= 300 ? 14 : count <= 1_500 ? 10 : 7
        self.dense = self.rowHeight < 14
        var end = max(timeline.endNs, 1_000_000)
        var flagged: [Int] = []
        var others: [Int] = []
        flagged.reserveCapacity(count / 8)
        others.reserveCapacity(count)
        for (i, request) in timeline.requests.enumerated() {
            for attempt in request.attempts {
                end = max(end, attempt.endNs ?? attempt.startNs, attempt.startNs)
            }
            if !request.findings.isEmpty || linked.contains(request.id) { flagged.append(i) } else { others.append(i) }
        }
        var byRequest: [String: [CheckReport.Timeline.Fault]] = [:]
        for fault in timeline.faults {
            end = max(end, fault.endNs ?? fault.startNs, fault.startNs)
            if let request = fault.request { byRequest[request, default: []].append(fault) }
        }
        self.nsEnd = end
        self.flagged = flagged
        self.others = others
        self.faultsByRequest = byRequest
        self.ticks = Self.ticks(upTo: end)
        self.rowIDs = Set(timeline.requests.map(\.id))
    }

    // MARK: - Geometry

    func x(_ ns: Int64) -> Double {
        Self.labelWidth + Double(max(0, min(ns, self.nsEnd))) / Double(self.nsEnd) * Self.plotWidth
    }

    /// Tick positions: the first "nice" step (1-2-5 ms and s, then minutes and hours)
    /// giving at most 10 intervals over `[0, end]`.
    static func ticks(upTo end: Int64) -> [Int64] {
        let ms: Int64 = 1_000_000
        let s = 1_000 * ms
        let steps: [Int64] = [1, 2, 5, 10, 20, 50, 100, 200, 500].map { $0 * ms }
            + [1, 2, 5, 10, 15, 30].map { $0 * s }
            + [1, 2, 5, 10, 15, 30].map { $0 * 60 * s }
            + [1, 2, 3, 6, 12, 24, 48, 168].map { $0 * 3_600 * s }
        let step = steps.first { end / $0 <= 10 } ?? max(end / 10, 1)
        var ticks: [Int64] = []
        var t: Int64 = 0
        while t <= end {
            ticks.append(t)
            // An end near Int64.max (a fault held for millions of hours): stop, not trap.
            let (next, overflow) = t.addingReportingOverflow(step)
            if overflow { break }
            t = next
        }
        return ticks
    }

    /// `0s`, `500ms`, `1.5s`, `2m`, `2m30s`, `1h`, `1h30m`.
    static func tickLabel(_ ns: Int64) -> String {
        let minute: Int64 = 60_000_000_000
        if ns == 0 { return "0s" }
        guard ns >= minute, ns % (minute / 2) == 0 else { return ReportText.duration(ns) }
        let seconds = ns / 1_000_000_000
        let (h, m, s) = (seconds / 3_600, seconds % 3_600 / 60, seconds % 60)
        if h > 0 { return m == 0 ? "\(h)h" : "\(h)h\(m)m" }
        return s == 0 ? "\(m)m" : "\(m)m\(s)s"
    }

    /// Rows' y offset inside the main SVG, and its total height (all rows, and findings only).
    var layout: (flaggedTop: Double, othersTop: Double, height: Double, flaggedHeight: Double) {
        var y = 0.0
        let flaggedTop = self.flagged.isEmpty ? 0 : Self.groupHeight
        if !self.flagged.isEmpty { y = Self.groupHeight + Double(self.flagged.count) * self.rowHeight }
        let flaggedHeight = max(y, 1)
        let othersTop = y + (self.others.isEmpty ? 0 : Self.groupHeight)
        y = othersTop + Double(self.others.count) * self.rowHeight
        return (flaggedTop, othersTop, y + 4, flaggedHeight + 4)
    }

    // MARK: - Drawing

    /// Appends the axis SVG and the rows SVG to `out`.
    func draw(into out: inout String) {
        let layout = self.layout
        let width = HTML.number(Self.width)
        self.drawHeader(into: &out, width: width)

        out += "<svg id=\"tl\" class=\"rows\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(HTML.number(layout.height))\""
        out += " data-h=\"\(HTML.number(layout.height))\" data-fh=\"\(HTML.number(layout.flaggedHeight))\""
        out += " font-family=\"ui-monospace,SFMono-Regular,Menlo,Consolas,monospace\" font-size=\"11\">\n"
        // Grid lines and request-less faults, across every row.
        for tick in self.ticks {
            let x = HTML.number(self.x(tick))
            out += "<line class=\"grid\" x1=\"\(x)\" x2=\"\(x)\" y1=\"0\" y2=\"\(HTML.number(layout.height))\"/>\n"
        }
        // A fault that hit no request (or one the timeline has no row for) spans every row.
        for fault in self.timeline.faults where fault.request.map({ !self.rowIDs.contains($0) }) ?? true {
            self.drawGlobalFault(fault, height: layout.height, into: &out)
        }
        if !self.flagged.isEmpty {
            self.drawGroupTitle("rows with findings (\(ReportText.grouped(self.flagged.count)))", y: 0, into: &out)
            out += "<g id=\"flagged\">\n"
            for (n, index) in self.flagged.enumerated() {
                self.drawRow(index, n: n, top: layout.flaggedTop + Double(n) * self.rowHeight, flagged: true, into: &out)
            }
            if self.dense { self.drawDenseLabels(self.flagged, top: layout.flaggedTop, into: &out) }
            out += "</g>\n"
        }
        if !self.others.isEmpty {
            out += "<g id=\"others\">\n"
            if !self.flagged.isEmpty {
                self.drawGroupTitle("other requests (\(ReportText.grouped(self.others.count)))", y: layout.othersTop - Self.groupHeight,
                                    into: &out)
            }
            for (n, index) in self.others.enumerated() {
                self.drawRow(index, n: n, top: layout.othersTop + Double(n) * self.rowHeight, flagged: false, into: &out)
            }
            if self.dense { self.drawDenseLabels(self.others, top: layout.othersTop, into: &out) }
            out += "</g>\n"
        }
        out += "</svg>\n"
    }

    private func drawHeader(into out: inout String, width: String) {
        out += "<svg class=\"axis\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(HTML.number(Self.headerHeight))\""
        out += " font-family=\"system-ui,sans-serif\" font-size=\"11\">\n"
        out += "<text x=\"6\" y=\"16\" class=\"muted\">time from origin</text>\n"
        out += "<text x=\"6\" y=\"40\" class=\"muted\">injected faults (\(ReportText.grouped(self.timeline.faults.count)))</text>\n"
        out += "<line class=\"axisline\" x1=\"\(HTML.number(Self.labelWidth))\" x2=\"\(HTML.number(Self.labelWidth + Self.plotWidth))\" y1=\"22\" y2=\"22\"/>\n"
        for tick in self.ticks {
            let x = HTML.number(self.x(tick))
            out += "<line class=\"axisline\" x1=\"\(x)\" x2=\"\(x)\" y1=\"22\" y2=\"26\"/>"
            out += "<text x=\"\(x)\" y=\"16\" text-anchor=\"middle\">\(Self.tickLabel(tick))</text>\n"
        }
        // The fault lane: every fault, so its timing stays in view while rows scroll.
        for fault in self.timeline.faults {
            let colour = HTML.faultColour(fault.kind)
            let x0 = self.x(fault.startNs)
            if let end = fault.endNs, end > fault.startNs {
                let w = max(self.x(end) - x0, 1.5)
                out += "<rect x=\"\(HTML.number(x0))\" y=\"32\" width=\"\(HTML.number(w))\" height=\"10\" fill=\"\(colour)\" fill-opacity=\".45\">"
            } else {
                out += "<path d=\"M\(HTML.number(x0 - 4)),31h8l-4,7z\" fill=\"\(colour)\">"
            }
            out += "<title>"
            self.appendFaultTitle(fault, into: &out)
            out += "</title></\(fault.endNs.map { $0 > fault.startNs } == true ? "rect" : "path")>\n"
        }
        out += "</svg>\n"
    }

    private func drawGroupTitle(_ title: String, y: Double, into out: inout String) {
        let mid = HTML.number(y + Self.groupHeight / 2 + 4)
        out += "<rect class=\"group\" x=\"0\" y=\"\(HTML.number(y + 2))\" width=\"\(HTML.number(Self.width))\" height=\"\(HTML.number(Self.groupHeight - 4))\"/>"
        out += "<text class=\"grouptitle\" x=\"6\" y=\"\(mid)\" font-family=\"system-ui,sans-serif\">\(title)</text>\n"
    }

    private func drawGlobalFault(_ fault: CheckReport.Timeline.Fault, height: Double, into out: inout String) {
        let colour = HTML.faultColour(fault.kind)
        let x0 = self.x(fault.startNs)
        if let end = fault.endNs, end > fault.startNs {
            out += "<rect x=\"\(HTML.number(x0))\" y=\"0\" width=\"\(HTML.number(max(self.x(end) - x0, 1)))\" height=\"\(HTML.number(height))\""
            out += " fill=\"\(colour)\" fill-opacity=\".08\"><title>"
            self.appendFaultTitle(fault, into: &out)
            out += "</title></rect>\n"
        } else {
            out += "<line x1=\"\(HTML.number(x0))\" x2=\"\(HTML.number(x0))\" y1=\"0\" y2=\"\(HTML.number(height))\" stroke=\"\(colour)\""
            out += " stroke-opacity=\".35\" stroke-dasharray=\"2 3\"/>\n"
        }
    }

    private func appendFaultTitle(_ fault: CheckReport.Timeline.Fault, into out: inout String) {
        MarkupEscaping.append(fault.kind, to: &out)
        out += " · rule "
        MarkupEscaping.append(fault.rule, to: &out)
        out += " · \(ReportText.seconds(fault.startNs))"
        if let end = fault.endNs, end > fault.startNs { out += " for \(ReportText.duration(end - fault.startNs))" }
        if let request = fault.request {
            out += " · "
            MarkupEscaping.append(request, to: &out)
        }
    }

    private func drawRow(_ index: Int, n: Int, top: Double, flagged: Bool, into out: inout String) {
        let request = self.timeline.requests[index]
        let h = self.rowHeight
        let markHeight = self.dense ? h - 2 : h - 6
        let markTop = top + (h - markHeight) / 2
        let centre = top + h / 2
        let y = HTML.number(markTop)
        let mh = HTML.number(markHeight)

        out += "<g class=\"row\" id=\"row-"
        out += HTML.anchor(request.id)
        out += "\"><title>"
        self.appendRowTitle(request, into: &out)
        out += "</title>"
        if flagged {
            out += "<rect class=\"bg\" x=\"0\" y=\"\(HTML.number(top))\" width=\"\(HTML.number(Self.width))\" height=\"\(HTML.number(h))\"/>"
        } else if !self.dense && n % 2 == 1 {
            out += "<rect class=\"stripe\" x=\"0\" y=\"\(HTML.number(top))\" width=\"\(HTML.number(Self.width))\" height=\"\(HTML.number(h))\"/>"
        }
        if !self.dense { self.drawLabel(request, centre: centre, into: &out) }
        // Faults that hit this request, behind its attempts.
        if let faults = self.faultsByRequest[request.id] {
            for fault in faults {
                let colour = HTML.faultColour(fault.kind)
                let x0 = self.x(fault.startNs)
                if let end = fault.endNs, end > fault.startNs {
                    out += "<rect x=\"\(HTML.number(x0))\" y=\"\(HTML.number(top + 1))\" width=\"\(HTML.number(max(self.x(end) - x0, 1)))\""
                    out += " height=\"\(HTML.number(h - 2))\" fill=\"\(colour)\" fill-opacity=\".22\"/>"
                } else {
                    let size = min(4.0, h / 2)
                    out += "<path d=\"M\(HTML.number(x0 - size)),\(HTML.number(top))h\(HTML.number(size * 2))l-\(HTML.number(size)),"
                    out += "\(HTML.number(size * 1.4))z\" fill=\"\(colour)\"/>"
                }
            }
        }
        // Attempts, and the gaps between them.
        var previousEnd: Int64?
        for (k, attempt) in request.attempts.enumerated() {
            let x0 = self.x(attempt.startNs)
            let end = attempt.endNs ?? (attempt.outcome == .unknown ? self.nsEnd : attempt.startNs)
            let w = max(self.x(end) - x0, 2)
            if let previousEnd, attempt.startNs > previousEnd {
                let gx0 = self.x(previousEnd)
                let gw = x0 - gx0
                if gw >= 1 {
                    let gy = HTML.number(self.dense ? centre : top + h - 3)
                    out += "<line class=\"gap\" x1=\"\(HTML.number(gx0))\" x2=\"\(HTML.number(x0))\" y1=\"\(gy)\" y2=\"\(gy)\"/>"
                    let label = ReportText.duration(attempt.startNs - previousEnd)
                    if !self.dense && gw >= Double(label.count) * 5.7 + 5 {
                        out += "<text class=\"gapl\" x=\"\(HTML.number(gx0 + gw / 2))\" y=\"\(HTML.number(centre + 3))\" text-anchor=\"middle\">"
                        out += label
                        out += "</text>"
                    }
                }
            }
            out += "<rect class=\"\(HTML.outcomeClass(attempt.outcome))\" x=\"\(HTML.number(x0))\" y=\"\(y)\" width=\"\(HTML.number(w))\" height=\"\(mh)\""
            if self.dense {
                out += "/>"
            } else {
                out += " rx=\"2\"><title>attempt \(k): \(attempt.outcome.rawValue)"
                if let status = attempt.status { out += " \(status)" }
                out += ", \(ReportText.seconds(attempt.startNs))"
                if let endNs = attempt.endNs { out += "–\(ReportText.seconds(endNs)) (\(ReportText.duration(endNs - attempt.startNs)))" }
                if let fault = attempt.fault {
                    out += ", fault "
                    MarkupEscaping.append(fault, to: &out)
                }
                out += "</title></rect>"
            }
            // An HTTP status on a wide enough mark.
            if !self.dense, let status = attempt.status, w >= 26 {
                out += "<text class=\"st\" x=\"\(HTML.number(x0 + w / 2))\" y=\"\(HTML.number(centre + 3.5))\" text-anchor=\"middle\">\(status)</text>"
            }
            previousEnd = max(previousEnd ?? .min, attempt.endNs ?? attempt.startNs)
        }
        // Rule ids at the row's end, each a link to its findings. Dense rows get a red mark
        // each and the ids on every other row, where they fit.
        if !request.findings.isEmpty {
            var x = Self.labelWidth + Self.plotWidth + 10
            if self.dense {
                out += "<rect class=\"frm\" x=\"\(HTML.number(x - 6))\" y=\"\(HTML.number(top + 1))\" width=\"3\" height=\"\(HTML.number(h - 2))\"/>"
            }
            if !self.dense || n % 2 == 0 {
                let fontSize = self.dense ? 8.0 : 11.0
                for rule in Self.unique(request.findings) {
                    out += "<a href=\"#rule-\(HTML.anchor(rule))\"><text class=\"fr\" x=\"\(HTML.number(x))\" y=\"\(HTML.number(centre + fontSize * 0.35))\""
                    if self.dense { out += " font-size=\"8\"" }
                    out += ">"
                    MarkupEscaping.append(rule, to: &out)
                    out += "</text></a>"
                    x += Double(rule.count) * fontSize * 0.62 + 6
                    if x > Self.width - 20 { break }
                }
            }
        }
        out += "</g>\n"
    }

    /// A row's label in three columns: id, operation, client. Tall rows label themselves;
    /// dense groups label every 5th row in a layer drawn after all rows (so the next row's
    /// background never covers the text).
    private func drawLabel(_ request: CheckReport.Timeline.Request, centre: Double, into out: inout String) {
        let fontSize = self.dense ? 9.0 : 11.0
        let scale = fontSize / 11
        let y = HTML.number(centre + fontSize * 0.35)
        out += "<text class=\"rid\" x=\"6\" y=\"\(y)\"\(self.dense ? " font-size=\"9\"" : "")>"
        MarkupEscaping.append(HTML.truncated(request.id, 7), to: &out)
        out += "</text><text x=\"\(HTML.number(6 + 50 * scale))\" y=\"\(y)\"\(self.dense ? " font-size=\"9\"" : "")>"
        MarkupEscaping.append(HTML.truncated(request.operation, 26), to: &out)
        out += "</text>"
        if let client = request.client {
            out += "<text class=\"muted\" x=\"\(HTML.number(6 + 228 * scale))\" y=\"\(y)\"\(self.dense ? " font-size=\"9\"" : "")>"
            MarkupEscaping.append(HTML.truncated(client, 13), to: &out)
            out += "</text>"
        }
    }

    /// Every 5th row's label, for a dense group.
    private func drawDenseLabels(_ rows: [Int], top: Double, into out: inout String) {
        out += "<g class=\"labels\">"
        for n in stride(from: 0, to: rows.count, by: 5) {
            let request = self.timeline.requests[rows[n]]
            self.drawLabel(request, centre: top + Double(n) * self.rowHeight + self.rowHeight / 2, into: &out)
        }
        out += "</g>\n"
    }

    private func appendRowTitle(_ request: CheckReport.Timeline.Request, into out: inout String) {
        MarkupEscaping.append(request.id, to: &out)
        out += " · "
        MarkupEscaping.append(request.operation, to: &out)
        if let client = request.client {
            out += " · "
            MarkupEscaping.append(client, to: &out)
        }
        out += " — \(ReportText.count(request.attempts.count, "attempt"))"
        for (k, attempt) in request.attempts.enumerated().prefix(8) {
            out += k == 0 ? ": " : "; "
            out += attempt.outcome.rawValue
            if let status = attempt.status { out += " \(status)" }
            out += " at \(ReportText.seconds(attempt.startNs))"
        }
        if request.attempts.count > 8 { out += "; …" }
        if !request.findings.isEmpty {
            out += " — "
            MarkupEscaping.append(request.findings.joined(separator: ", "), to: &out)
        }
    }

    private static func unique(_ values: [String]) -> [String] {
        var seen = Set<String>()
        return values.filter { seen.insert($0).inserted }
    }
}
