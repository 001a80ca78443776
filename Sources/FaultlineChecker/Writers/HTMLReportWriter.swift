/// The report for the post-incident review: one self-contained HTML file.
///
/// No network: no external scripts, fonts, stylesheets or images; one inline `<style>`
/// and a few lines of inline script (the "rows with findings only" switch). From the top:
/// the verdict and summary, the SVG timeline (`HTMLTimeline`, in a scrolling box with a
/// sticky time axis), the findings grouped by rule (each linking to its timeline rows),
/// what each client really does, every rule's status, and the notes.
///
/// Operation names, keys and client names come from traffic: every piece of report text
/// goes through `MarkupEscaping`, ids through `HTML.anchor`. The page is built in one
/// reserved `String`; 10,000 logical requests make about 2 MB.
package enum HTMLReportWriter {
    package static func write(_ report: CheckReport) -> String {
        var out = ""
        out.reserveCapacity(16_384 + report.timeline.requests.count * 260 + report.findings.count * 1_024)
        let verdict = ReportText.verdict(report)
        out += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        out += "<title>faultline check \(Self.esc(report.check)) — \(Self.esc(verdict))</title>\n"
        out += "<style>\n\(Self.css)</style>\n</head>\n<body>\n"
        Self.summary(report, verdict: verdict, into: &out)
        if Self.showsTimeline(report) { Self.timeline(report, into: &out) }
        // check idempotency's main result is the operations' classification: it comes first.
        Self.operations(report, into: &out)
        Self.findings(report, into: &out)
        Self.clients(report, into: &out)
        Self.rules(report, into: &out)
        Self.notes(report, into: &out)
        out += "<footer>Written by <code>faultline check \(Self.esc(report.check))</code>, report schema "
        out += "\(report.schemaVersion). Times are from the log's origin (monotonic \(report.origin) ns).</footer>\n"
        out += "<script>\n\(Self.script)</script>\n</body>\n</html>\n"
        return out
    }

    // MARK: - Sections

    private static func summary(_ report: CheckReport, verdict: String, into out: inout String) {
        out += "<header>\n<h1>faultline check \(Self.esc(report.check))</h1>\n"
        out += "<p class=\"verdict \(report.hasViolations ? "bad" : "good")\">\(Self.esc(verdict))</p>\n"
        out += "<dl class=\"meta\">"
        out += "<dt>inputs</dt><dd>"
        out += report.inputs.isEmpty ? "(none)" : report.inputs.map { "<code>\(Self.esc($0))</code>" }.joined(separator: " ")
        out += "</dd><dt>\(report.seeds.count > 1 ? "seeds" : "seed")</dt><dd>"
        out += report.seeds.isEmpty ? "unknown" : report.seeds.map(String.init).joined(separator: ", ")
        out += "</dd>"
        if case .idempotency(let s) = report.counts {
            out += "<dt>operations</dt><dd>\(Self.esc(ReportText.classificationCounts(s.operationsByClassification)))</dd>"
        }
        out += "<dt>findings</dt><dd>\(Self.esc(ReportText.severityCounts(report.counts.findingsBySeverity)))</dd></dl>\n"
        out += "<ul class=\"stats\">"
        let stats: [(Int, String, String)]
        switch report.counts {
        case .retries(let s):
            stats = [
                (s.logicalRequests, "logical request", "logical requests"), (s.retried, "retried", "retried"),
                (s.attempts, "attempt", "attempts"), (s.clients, "client", "clients"), (s.connections, "connection", "connections"),
                (s.faults, "injected fault", "injected faults"), (s.events, "event", "events"),
            ]
        case .idempotency(let s):
            stats = [
                (s.operations, "operation", "operations"), (s.requestsSent, "replayed request sent", "replayed requests sent"),
                (s.probeRequests, "probe read", "probe reads"), (s.repliesReceived, "reply received", "replies received"),
                (s.repliesDropped, "reply dropped on purpose (SR-05)", "replies dropped on purpose (SR-05)"),
                (s.unanswered, "unanswered", "unanswered"), (s.events, "event", "events"),
            ]
        }
        for (value, singular, plural) in stats {
            out += "<li><b>\(ReportText.grouped(value))</b> \(value == 1 ? singular : plural)</li>"
        }
        out += "</ul>\n<nav>"
        if Self.showsTimeline(report) { out += "<a href=\"#timeline\">Timeline</a> " }
        if report.operations != nil { out += "<a href=\"#operations\">Operations</a> " }
        out += "<a href=\"#findings\">Findings</a> "
        if Self.showsClients(report) { out += "<a href=\"#clients\">Clients</a> " }
        out += "<a href=\"#rules\">Rules</a>"
        if !report.notes.isEmpty { out += " <a href=\"#notes\">Notes</a>" }
        out += "</nav>\n</header>\n"
    }

    private static func timeline(_ report: CheckReport, into out: inout String) {
        out += "<section id=\"timeline\">\n<h2>Timeline</h2>\n"
        guard !report.timeline.requests.isEmpty else {
            out += "<p class=\"muted\">No logical requests in the input.</p>\n</section>\n"
            return
        }
        let linked = Set(report.findings.flatMap(\.requests))
        let timeline = HTMLTimeline(report.timeline, linked: linked)
        // The legend: outcomes, then the fault kinds this report holds.
        out += "<div class=\"legend\">"
        let outcomes: [(CheckReport.Outcome, String)] = [
            (.answered, "answered"), (.answeredByProxy, "answered by proxy"), (.notApplied, "not applied"),
            (.ambiguous, "ambiguous"), (.clientGaveUp, "client gave up"), (.reset, "reset"), (.unknown, "unknown"),
        ]
        for (outcome, label) in outcomes {
            out += "<span><i class=\"sw\" style=\"background:\(HTML.outcomeColour(outcome))\"></i>\(label)</span>"
        }
        var kinds: [String] = []
        var seen = Set<String>()
        for fault in report.timeline.faults where seen.insert(fault.kind).inserted { kinds.append(fault.kind) }
        if !kinds.isEmpty {
            out += "<span class=\"sep\">faults:</span>"
            for kind in kinds.sorted() {
                out += "<span><i class=\"tri\" style=\"color:\(HTML.faultColour(kind))\">▼</i>\(Self.esc(kind))</span>"
            }
        }
        out += "<span class=\"sep\"><i class=\"gapsw\"></i>backoff gap</span>"
        out += "<span><b class=\"frl\">CR-01</b> finding on the row</span></div>\n"
        if !timeline.flagged.isEmpty && !timeline.others.isEmpty {
            out += "<label class=\"toggle\"><input type=\"checkbox\" id=\"only\"> rows with findings only "
            out += "(\(ReportText.grouped(timeline.flagged.count)) of \(ReportText.grouped(report.timeline.requests.count)))</label>\n"
        }
        out += "<p class=\"muted hint\">One row per logical request; hover a row or a mark for its attempts (counted from 0, as in the event log). "
        if timeline.dense { out += "Rows are thin at this size: every 5th is labelled, every row has a tooltip. " }
        out += "</p>\n<div class=\"tlwrap\">\n"
        timeline.draw(into: &out)
        out += "</div>\n</section>\n"
    }

    private static func findings(_ report: CheckReport, into out: inout String) {
        out += "<section id=\"findings\">\n<h2>Findings</h2>\n"
        if report.findings.isEmpty {
            out += "<p>None.</p>\n</section>\n"
            return
        }
        if ReportText.showsAttempts(report.findings) {
            out += "<p class=\"muted hint\">\(Self.esc(ReportText.attemptNumbering))</p>\n"
        }
        let rows = Set(report.timeline.requests.map(\.id))
        for group in ReportText.groupedByRule(report.findings) {
            out += "<h3 id=\"rule-\(HTML.anchor(group.rule))\">\(Self.esc(group.rule)) \(Self.esc(group.findings[0].name)) "
            out += "<span class=\"muted\">\(ReportText.count(group.findings.count, "finding"))</span></h3>\n"
            for finding in group.findings {
                Self.finding(finding, rows: rows, into: &out)
            }
        }
        out += "</section>\n"
    }

    /// A link to the request's timeline row, or its id alone when the timeline has no row
    /// for it (a link must never point nowhere).
    private static func rowLink(_ id: String, rows: Set<String>) -> String {
        rows.contains(id) ? "<a href=\"#row-\(HTML.anchor(id))\">\(Self.esc(id))</a>" : Self.esc(id)
    }

    private static func finding(_ finding: CheckReport.Finding, rows: Set<String>, into out: inout String) {
        let sev = finding.severity.rawValue
        out += "<article class=\"finding s-\(sev)\">\n<h4><span class=\"sev s-\(sev)\">\(sev)</span> "
        out += "\(Self.esc(finding.rule)) \(Self.esc(finding.name)) — <code>\(Self.esc(finding.operation))</code>"
        if let client = finding.client { out += " <span class=\"muted\">(\(Self.esc(client)))</span>" }
        out += "</h4>\n<p>\(Self.esc(finding.message))</p>\n"
        if !finding.evidence.isEmpty {
            let keys = finding.evidence.contains { $0.idempotencyKey != nil }
            out += "<table class=\"evidence\"><thead><tr><th>request</th><th>attempt</th><th>start</th><th>outcome</th>"
            out += "<th>status</th><th>fault</th><th>gap</th>\(keys ? "<th>key</th>" : "")<th>log</th></tr></thead><tbody>\n"
            for e in finding.evidence {
                out += "<tr><td>\(Self.rowLink(e.request, rows: rows))</td><td>\(e.attempt)</td>"
                out += "<td>\(ReportText.seconds(e.startNs))</td>"
                out += "<td><i class=\"dot\" style=\"background:\(HTML.outcomeColour(e.outcome))\"></i>\(e.outcome.rawValue)</td>"
                out += "<td>\(e.status.map(String.init) ?? "–")</td><td>\(e.fault.map(Self.esc) ?? "–")</td>"
                out += "<td>\(e.gapNs.map(ReportText.duration) ?? "–")</td>"
                if keys { out += "<td><code>\(e.idempotencyKey.map(Self.esc) ?? "–")</code></td>" }
                out += "<td class=\"muted\">\(Self.esc(e.proxy)) conn \(e.conn) unit \(e.unit)\(e.line.map { " line \($0)" } ?? "")</td></tr>\n"
            }
            out += "</tbody></table>\n"
        }
        if let exchanges = finding.exchanges, !exchanges.isEmpty {
            out += "<details class=\"exchanges\"\(exchanges.count <= 6 ? " open" : "")><summary>\(ReportText.count(exchanges.count, "exchange")): what replay sent and got back</summary>\n"
            out += "<table class=\"evidence\"><thead><tr><th>step</th><th>sent</th><th>reply</th></tr></thead><tbody>\n"
            for exchange in exchanges {
                out += "<tr><td>\(Self.esc(exchange.step))</td><td><pre>\(Self.esc(exchange.request))</pre></td>"
                out += "<td><pre>\(Self.esc(exchange.reply))</pre></td></tr>\n"
            }
            out += "</tbody></table></details>\n"
        }
        out += "<p class=\"fix\"><b>Fix:</b> \(Self.esc(finding.fix))</p>\n"
        if !finding.requests.isEmpty {
            out += "<p class=\"reqs\">On the timeline: "
            let shown = finding.requests.prefix(50)
            out += shown.map { Self.rowLink($0, rows: rows) }.joined(separator: " ")
            if finding.requests.count > shown.count { out += " and \(finding.requests.count - shown.count) more" }
            out += "</p>\n"
        }
        out += "</article>\n"
    }

    /// `check idempotency` draws no timeline (replay has no faults to place): no empty section.
    private static func showsTimeline(_ report: CheckReport) -> Bool {
        !report.timeline.requests.isEmpty || report.operations == nil
    }

    /// `check idempotency` infers no client behaviour: no empty section for it.
    private static func showsClients(_ report: CheckReport) -> Bool {
        !report.clients.isEmpty || report.operations == nil
    }

    private static func operations(_ report: CheckReport, into out: inout String) {
        guard let operations = report.operations else { return }
        out += "<section id=\"operations\">\n<h2>Operations</h2>\n"
        guard !operations.isEmpty else {
            out += "<p class=\"muted\">No operation was replayed.</p>\n</section>\n"
            return
        }
        let ruleAnchors = Set(report.findings.map(\.rule))
        out += "<table class=\"grid\"><thead><tr><th>operation</th><th>classification</th><th>key</th><th>state probe</th>"
        out += "<th>failed rules</th><th>why</th><th>replayed from</th></tr></thead><tbody>\n"
        for op in operations {
            let classification = op.classification.rawValue
            out += "<tr><td><code>\(Self.esc(op.operation))</code></td>"
            out += "<td><span class=\"cl-\(classification)\">\(classification.replacingUnderscores)</span></td>"
            out += "<td>\(op.keyed ? "keyed" : "no key")</td><td>\(op.probed ? "probed" : "replies only")</td><td>"
            out += op.failedRules.isEmpty ? "–" : op.failedRules.map { rule in
                ruleAnchors.contains(rule) ? "<a href=\"#rule-\(HTML.anchor(rule))\">\(Self.esc(rule))</a>" : Self.esc(rule)
            }.joined(separator: " ")
            out += "</td><td>\(Self.esc(op.reason))</td><td class=\"muted\">\(op.source.map { "<code>\(Self.esc($0))</code>" } ?? "–")</td></tr>\n"
        }
        out += "</tbody></table>\n</section>\n"
    }

    private static func clients(_ report: CheckReport, into out: inout String) {
        guard Self.showsClients(report) else { return }
        out += "<section id=\"clients\">\n<h2>What your client really does</h2>\n"
        guard !report.clients.isEmpty else {
            out += "<p class=\"muted\">No client behaviour inferred.</p>\n</section>\n"
            return
        }
        out += "<table class=\"grid\"><thead><tr><th>client</th><th>requests</th><th>backoff</th><th>initial</th><th>growth</th>"
        out += "<th title=\"where the longest delays stopped growing over the last attempts seen: observed in this log, not necessarily the client's configured cap\">flat at (seen)</th><th>jitter</th><th>attempts max / mean</th><th>deadline</th><th>timeout</th><th>samples</th></tr></thead><tbody>\n"
        for c in report.clients {
            out += "<tr><td><code>\(Self.esc(c.client))</code></td><td>\(c.logicalRequests) (\(c.retried) retried)</td>"
            out += "<td>\(Self.esc(c.backoff))</td><td>\(c.initialDelayNs.map(ReportText.duration) ?? "–")</td>"
            out += "<td>\(c.growth.map { "×" + ReportText.decimal($0, places: 2) } ?? "–")</td>"
            out += "<td>\(c.capNs.map(ReportText.duration) ?? "–")</td>"
            out += "<td>\(Self.esc(c.jitter))\(c.jitterCV.map { " (CV \(ReportText.decimal($0, places: 2)))" } ?? "")</td>"
            out += "<td>\(c.maxAttempts) / \(ReportText.decimal(c.meanAttempts, places: 1))</td>"
            out += "<td>\(c.deadlineNs.map(ReportText.duration) ?? "–")</td><td>\(c.timeoutNs.map(ReportText.duration) ?? "–")</td>"
            out += "<td>\(c.samples)</td></tr>\n"
            if let note = c.note {
                out += "<tr class=\"note\"><td></td><td colspan=\"10\">\(Self.esc(note))</td></tr>\n"
            }
        }
        out += "</tbody></table>\n</section>\n"
    }

    private static func rules(_ report: CheckReport, into out: inout String) {
        out += "<section id=\"rules\">\n<h2>Rules</h2>\n"
        guard !report.rules.isEmpty else {
            out += "<p class=\"muted\">No rule results.</p>\n</section>\n"
            return
        }
        out += "<table class=\"grid\"><thead><tr><th>rule</th><th>severity</th><th>operation</th><th>status</th>"
        out += "<th>evidence</th><th>samples</th></tr></thead><tbody>\n"
        for r in report.rules {
            let status = r.status.rawValue
            out += "<tr><td>\(Self.esc(r.id)) \(Self.esc(r.name))</td><td>\(r.severity.rawValue)</td>"
            out += "<td>\(r.operation.map { "<code>\(Self.esc($0))</code>" } ?? "all")</td>"
            out += "<td><span class=\"st-\(status)\">\(ReportText.status(r.status))</span></td>"
            out += "<td>\(Self.esc(r.evidence))</td><td>\(r.samples) (min \(r.minimumSamples))</td></tr>\n"
        }
        out += "</tbody></table>\n</section>\n"
    }

    private static func notes(_ report: CheckReport, into out: inout String) {
        guard !report.notes.isEmpty else { return }
        out += "<section id=\"notes\">\n<h2>Notes</h2>\n<ul>\n"
        for note in report.notes { out += "<li>\(Self.esc(note))</li>\n" }
        out += "</ul>\n</section>\n"
    }

    private static func esc(_ text: String) -> String {
        MarkupEscaping.escape(text)
    }

    // MARK: - Style and script

    static let css = """
        :root { color-scheme: light; --fg: #212529; --muted: #6c757d; --line: #dee2e6; --bad: #c92a2a; }
        * { box-sizing: border-box; }
        body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
               margin: 0 auto; padding: 16px 20px 40px; max-width: 1400px; }
        h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 28px 0 8px;
        border-bottom: 1px solid var(--line); padding-bottom: 4px; } h3 { font-size: 15px; margin: 18px 0 6px; }
        h4 { font-size: 14px; margin: 0 0 4px; font-weight: 600; }
        code { font: 12.5px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
        .muted { color: var(--muted); }
        .verdict { display: inline-block; font-weight: 600; padding: 4px 10px; border-radius: 4px; margin: 4px 0 8px; }
        .verdict.bad { background: #fff5f5; color: var(--bad); border: 1px solid #ffc9c9; }
        .verdict.good { background: #ebfbee; color: #2b8a3e; border: 1px solid #b2f2bb; }
        dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 4px 0; }
        dl.meta dt { color: var(--muted); } dl.meta dd { margin: 0; }
        ul.stats { list-style: none; padding: 0; margin: 8px 0; display: flex; flex-wrap: wrap; gap: 6px 18px; }
        ul.stats b { font-size: 16px; }
        nav a { margin-right: 12px; }
        .legend { display: flex; flex-wrap: wrap; gap: 4px 14px; font-size: 12.5px; margin: 4px 0 6px; align-items: center; }
        .legend .sep { margin-left: 8px; color: var(--muted); }
        .sw { display: inline-block; width: 14px; height: 10px; border-radius: 2px; margin-right: 5px; vertical-align: -1px; }
        .tri { font-style: normal; margin-right: 4px; font-size: 11px; }
        .gapsw { display: inline-block; width: 22px; border-top: 1.5px dashed #868e96; margin-right: 5px; vertical-align: 3px; }
        .frl { color: var(--bad); font: 600 12px ui-monospace, Menlo, Consolas, monospace; margin-right: 4px; }
        .toggle { font-size: 13px; display: inline-block; margin: 2px 0 4px; }
        .hint { font-size: 12px; margin: 0 0 6px; }
        .tlwrap { max-height: 78vh; overflow: auto; border: 1px solid var(--line); border-radius: 4px; }
        svg { display: block; }
        svg.axis { position: sticky; top: 0; background: #fff; z-index: 1; border-bottom: 1px solid var(--line); }
        svg text { fill: var(--fg); } svg .muted { fill: var(--muted); }
        .axisline { stroke: #adb5bd; } .grid { stroke: #f1f3f5; }
        .group { fill: #f1f3f5; } .grouptitle { fill: var(--muted); font-size: 11px; font-weight: 600; }
        .stripe { fill: #f8f9fa; } .bg { fill: #fff5f5; }
        g.row:target .bg { fill: #ffec99; } g.row:hover .bg, g.row:hover .stripe { fill: #e7f5ff; }
        .rid { font-weight: 600; }
        .oa { fill: #2f9e44; } .op { fill: #0c8599; } .on { fill: #868e96; } .om { fill: #f08c00; }
        .og { fill: #7048e8; } .or { fill: #e03131; } .ou { fill: #ced4da; }
        .gap { stroke: #868e96; stroke-width: 1.2; stroke-dasharray: 3 2; }
        .gapl { fill: #495057; font-size: 9.5px; }
        text.st { fill: #fff; font-size: 9.5px; font-weight: 600; pointer-events: none; }
        text.fr { fill: var(--bad); font-weight: 700; } .frm { fill: var(--bad); }
        article.finding { border: 1px solid var(--line); border-left: 4px solid #adb5bd; border-radius: 4px;
                          padding: 8px 12px; margin: 8px 0; }
        article.s-CRIT, article.s-HIGH { border-left-color: #c92a2a; } article.s-MED { border-left-color: #f08c00; }
        article.s-LOW { border-left-color: #fab005; } article.s-INFO { border-left-color: #74c0fc; }
        article p { margin: 4px 0; }
        .sev { font: 700 11px system-ui, sans-serif; padding: 1px 6px; border-radius: 3px; color: #fff; background: #868e96; }
        .sev.s-CRIT { background: #862e9c; } .sev.s-HIGH { background: #c92a2a; } .sev.s-MED { background: #e8590c; }
        .sev.s-LOW { background: #e67700; } .sev.s-INFO { background: #1c7ed6; }
        table { border-collapse: collapse; font-size: 13px; }
        table.evidence { margin: 6px 0; } table.evidence td, table.evidence th { padding: 2px 10px 2px 0; text-align: left; }
        table.evidence td { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12.5px; }
        table.grid { width: 100%; } table.grid th, table.grid td { border-bottom: 1px solid var(--line); padding: 4px 8px;
        text-align: left; vertical-align: top; } th { color: var(--muted); font-weight: 600; }
        tr.note td { color: var(--muted); font-size: 12.5px; border-bottom: 1px solid var(--line); }
        .dot { display: inline-block; width: 8px; height: 8px; border-radius: 50%; margin-right: 5px; }
        .fix { color: #2b8a3e; } .reqs { font-size: 13px; }
        [class^="st-"] { padding: 0 6px; border-radius: 3px; font-size: 12.5px; white-space: nowrap; }
        .st-passed { background: #ebfbee; color: #2b8a3e; } .st-failed { background: #fff5f5; color: var(--bad); font-weight: 600; }
        .st-not_enough_evidence { background: #fff9db; color: #946800; } .st-not_applicable { background: #f1f3f5; color: var(--muted); }
        .st-off { background: #f1f3f5; color: #adb5bd; } .st-noted { background: #e7f5ff; color: #1864ab; }
        details.exchanges { margin: 6px 0; } details.exchanges summary { cursor: pointer; font-size: 13px; }
        details.exchanges pre { margin: 0; white-space: pre-wrap; word-break: break-all; max-width: 560px;
                                font: 12px ui-monospace, Menlo, Consolas, monospace; }
        details.exchanges td { vertical-align: top; border-bottom: 1px solid var(--line); padding: 4px 10px 4px 0; }
        [class^="cl-"] { padding: 0 6px; border-radius: 3px; font-size: 12.5px; white-space: nowrap; }
        .cl-idempotent { background: #ebfbee; color: #2b8a3e; } .cl-deduplicated_by_key { background: #e3fafc; color: #0b7285; }
        .cl-at_least_once { background: #fff5f5; color: var(--bad); font-weight: 600; } .cl-inconclusive { background: #f1f3f5; color: var(--muted); }
        footer { margin-top: 32px; color: var(--muted); font-size: 12px; }

        """

    /// "Rows with findings only": hides the other rows' group and shrinks the SVG to the
    /// rows with findings (they come first).
    static let script = """
        (function () {
          var box = document.getElementById("only"), svg = document.getElementById("tl"), others = document.getElementById("others");
          if (!box || !svg || !others) return;
          box.addEventListener("change", function () {
            others.style.display = box.checked ? "none" : "";
            svg.setAttribute("height", box.checked ? svg.dataset.fh : svg.dataset.h);
          });
        })();

        """
}

extension String {
    /// `deduplicated_by_key` → `deduplicated by key`.
    fileprivate var replacingUnderscores: String {
        String(self.map { $0 == "_" ? " " : $0 })
    }
}
