import FaultlineChecker
import FaultlineTestSupport
import Foundation
import Testing

struct HTMLWriterTests {
    static let html = ReportWriter.write(ReportFixtures.realistic(), as: .html)

    static func occurrences(of needle: String, in text: String) -> Int {
        text.components(separatedBy: needle).count - 1
    }

    @Test func isOneSelfContainedDocument() {
        let html = Self.html
        #expect(html.hasPrefix("<!DOCTYPE html>\n<html lang=\"en\">"))
        #expect(html.hasSuffix("</html>\n"))
        #expect(Self.occurrences(of: "<style>", in: html) == 1)
        #expect(Self.occurrences(of: "<script", in: html) == 1)
        #expect(html.contains("<script>\n"))
        // Nothing fetched: the only URL is the SVG namespace, which is never loaded.
        let withoutNamespace = html.replacingOccurrences(of: "xmlns=\"http://www.w3.org/2000/svg\"", with: "")
        #expect(!withoutNamespace.contains("http:"))
        #expect(!withoutNamespace.contains("https:"))
        #expect(!withoutNamespace.contains("//"))
        for marker in ["<link", "<img", "<iframe", " src=", "@import", "url(", "@font-face"] {
            #expect(!html.contains(marker), "found \(marker)")
        }
    }

    @Test func summaryFindingsClientsRulesAndNotes() {
        let html = Self.html
        #expect(html.contains("<p class=\"verdict bad\">4 violations (1 HIGH, 3 MED), 1 INFO observation</p>"))
        #expect(html.contains("<li><b>50</b> logical requests</li>"))
        #expect(html.contains("<h3 id=\"rule-CR-01\">CR-01 NONIDEMPOTENT_RETRY_NO_KEY"))
        #expect(html.contains("<span class=\"sev s-HIGH\">HIGH</span> CR-01 NONIDEMPOTENT_RETRY_NO_KEY — <code>POST /charges</code>"))
        #expect(html.contains("<td><a href=\"#row-R7\">R7</a></td><td>2</td><td>3.154s</td>"))
        #expect(html.contains("<p class=\"fix\"><b>Fix:</b> Send one Idempotency-Key header"))
        #expect(html.contains("<td>exponential</td><td>250ms</td><td>×2.00</td><td>2s</td><td>none (CV 0.02)</td>"))
        #expect(html.contains("<span class=\"st-not_enough_evidence\">not enough evidence</span>"))
        #expect(html.contains("<span class=\"st-off\">off</span>"))
        // Where the delays levelled off is what the log shows, not the client's cap.
        #expect(html.contains(">flat at (seen)</th>") && !html.contains("<th>cap</th>"))
        #expect(html.contains("<li>--rules excluded CR-13</li>"))
        // Grouped by rule, most severe first.
        let order = ["rule-CR-01", "rule-CR-06", "rule-CR-08", "rule-CR-22"].compactMap { html.range(of: "id=\"\($0)\"")?.lowerBound }
        #expect(order.count == 4)
        #expect(order == order.sorted())
    }

    /// A rule whose findings are all INFO reads "noted", styled apart from passed.
    @Test func aNotedRuleReadsNoted() throws {
        var report = ReportFixtures.realistic()
        let index = try #require(report.rules.firstIndex { $0.id == "CR-22" })
        report.rules[index].status = .noted
        let html = ReportWriter.write(report, as: .html)
        #expect(html.contains("<td>INFO</td><td><code>POST /refunds</code></td><td><span class=\"st-noted\">noted</span></td>"), "\(html)")
        #expect(html.contains(".st-noted {"))
    }

    @Test func timelineHasARowPerRequestFindingsFirst() throws {
        let html = Self.html
        #expect(Self.occurrences(of: "<g class=\"row\"", in: html) == 50)
        #expect(html.contains("rows with findings (6)"))
        #expect(html.contains("other requests (44)"))
        let flagged = try #require(html.range(of: "<g id=\"flagged\">"))
        let others = try #require(html.range(of: "<g id=\"others\">"))
        let r7 = try #require(html.range(of: "<g class=\"row\" id=\"row-R7\">"))
        let r1 = try #require(html.range(of: "<g class=\"row\" id=\"row-R1\">"))
        #expect(flagged.lowerBound < r7.lowerBound && r7.lowerBound < others.lowerBound && others.lowerBound < r1.lowerBound)
        // R7: two ambiguous attempts and the answer, the labelled backoff gaps, the rule id.
        let row = String(html[r7.lowerBound...].prefix { $0 != "\n" })
        #expect(Self.occurrences(of: "<rect class=\"om\"", in: row) == 2)
        #expect(Self.occurrences(of: "<rect class=\"oa\"", in: row) == 1)
        #expect(row.contains(">250ms</text>"))
        #expect(row.contains(">500ms</text>"))
        #expect(row.contains("<a href=\"#rule-CR-01\"><text class=\"fr\""))
        #expect(row.contains("<title>R7 · POST /charges · 10.0.0.5 — 3 attempts: ambiguous at 1.204s; ambiguous at 2.054s; answered 201 at 3.154s — CR-01</title>"))
        // Faults: the lane, the request-less band across all rows, the legend.
        #expect(html.contains("injected faults (16)"))
        #expect(html.contains("fill=\"#4dabf7\" fill-opacity=\".08\"><title>bandwidth · rule slow-link"))
        #expect(html.contains("<i class=\"tri\" style=\"color:#c92a2a\">▼</i>sever</span>"))
        #expect(html.contains("<i class=\"sw\" style=\"background:#7048e8\"></i>client gave up</span>"))
        #expect(html.contains(">1s</text>"))
    }

    @Test func everyLinkToARowFindsIt() {
        let html = ReportWriter.write(ReportFixtures.hostile(), as: .html)
        let hrefs = html.components(separatedBy: "href=\"#row-").dropFirst().map { String($0.prefix { $0 != "\"" }) }
        #expect(!hrefs.isEmpty)
        for href in Set(hrefs) {
            #expect(html.contains("id=\"row-\(href)\""), "no row for #row-\(href)")
        }
        let ruleLinks = html.components(separatedBy: "href=\"#rule-").dropFirst().map { String($0.prefix { $0 != "\"" }) }
        for rule in Set(ruleLinks) {
            #expect(html.contains("id=\"rule-\(rule)\""), "no findings for #rule-\(rule)")
        }
    }

    @Test func trafficTextIsEscaped() {
        let html = ReportWriter.write(ReportFixtures.hostile(), as: .html)
        #expect(Self.occurrences(of: "<script", in: html) == 1)
        #expect(!html.contains("<img"))
        #expect(!html.contains("</style><"))
        #expect(!html.contains("<b>twice</b>"))
        #expect(html.contains("POST /x&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;[31m"))
        #expect(html.contains("&lt;img src=x onerror=alert(1)&gt;"))
        #expect(html.contains("id=\"row-R7_22_3E_3Cscript_3Ealert_281_29_3C_2Fscript_3E\""))
        #expect(!html.contains("\u{1B}"))
        #expect(!html.contains("\u{0}"))
    }

    @Test func idempotencyReportShowsOperationsAndExchanges() throws {
        let html = ReportWriter.write(ReportFixtures.idempotency(), as: .html)
        #expect(html.contains("<section id=\"operations\">"))
        #expect(html.contains("<td><code>POST /accounts/{id}/deposits</code></td><td><span class=\"cl-at_least_once\">at least once</span></td>"))
        #expect(html.contains("<a href=\"#rule-SR-01\">SR-01</a>"))
        #expect(html.contains("<code>DELETE /sessions/&lt;x&gt;</code>"))
        #expect(html.contains("<details class=\"exchanges\" open><summary>4 exchanges: what replay sent and got back</summary>"))
        #expect(!html.contains("id=\"timeline\""))
        let operations = html.range(of: "<section id=\"operations\">")?.lowerBound
        let findings = html.range(of: "<section id=\"findings\">")?.lowerBound
        #expect(operations != nil && findings != nil && operations! < findings!)
        #expect(html.contains("<pre>HTTP/1.1 201 Created\nContent-Length: 8\n\n{&quot;id&quot;:8}</pre>"))
        #expect(!html.contains("id=\"clients\""))
        #expect(!html.contains("href=\"#clients\""))
        #expect(!Self.html.contains("id=\"operations\""))
        // Replay's own counts in the header, none of the retry check's.
        #expect(html.contains("<dt>operations</dt><dd>1 idempotent, 0 deduplicated by key, 1 at-least-once, 1 inconclusive</dd>"))
        #expect(html.contains(
            "<ul class=\"stats\"><li><b>3</b> operations</li><li><b>12</b> replayed requests sent</li><li><b>9</b> probe reads</li>"
                + "<li><b>18</b> replies received</li><li><b>2</b> replies dropped on purpose (SR-05)</li><li><b>1</b> unanswered</li>"
                + "<li><b>40</b> events</li></ul>"))
        let start = try #require(html.range(of: "<header>")).upperBound
        let end = try #require(html.range(of: "</header>")).lowerBound
        for retryWords in ["retried", "logical request", "client", "injected fault", "attempt", "connection"] {
            #expect(!html[start..<end].contains(retryWords), "the header says '\(retryWords)'")
        }
    }

    @Test func noRequestsNoTimeline() {
        let html = ReportWriter.write(CheckReport(check: "retries", inputs: ["empty.jsonl"], origin: 0), as: .html)
        #expect(html.contains("No logical requests in the input."))
        #expect(html.contains("<p class=\"verdict good\">no violations</p>"))
        #expect(!html.contains("<svg"))
    }

    @Test(.timeLimit(.minutes(1)))
    func tenThousandRequestsAreQuickAndSmall() async throws {
        // Seconds of computing on a debug build: on a thread of its own, not the pool's.
        // No timed assertion: the suite's minute is the bound against a quadratic turn
        // (it takes about half a second alone, and a machine with both cores busy was
        // seen to take six times that; quadratic in 10,000 rows would take far longer).
        let html = try await onOwnThread {
            ReportWriter.write(ReportFixtures.large(requests: 10_000), as: .html)
        }
        #expect(html.utf8.count < 5_000_000, "\(html.utf8.count) bytes")
        #expect(Self.occurrences(of: "<g class=\"row\"", in: html) == 10_000)
        #expect(html.contains("rows with findings only (206 of 10,000)"))
        #expect(html.contains("Rows are thin at this size"))
    }

    // MARK: - In a real browser

    static let chromium = "/usr/bin/chromium"

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/chromium"), "needs Debian's chromium (make test installs it)"),
          .timeLimit(.minutes(3)),
          arguments: [50, 10_000])
    func chromiumRendersIt(requests: Int) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("faultline-html-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let page = directory.appendingPathComponent("report.html")
        let html = try await onOwnThread {
            ReportWriter.write(requests == 50 ? ReportFixtures.realistic() : ReportFixtures.large(requests: requests), as: .html)
        }
        try Data(html.utf8).write(to: page)

        let png = directory.appendingPathComponent("shot.png")
        let shot = try await Self.runChromium(["--screenshot=\(png.path)", "--window-size=1400,1000", page.absoluteString], in: directory)
        #expect(shot.status == 0, "chromium --screenshot: \(shot.errors)")
        let size = (try? FileManager.default.attributesOfItem(atPath: png.path)[.size] as? Int) ?? 0
        #expect(size > 20_000, "screenshot is \(size) bytes")
        let header = try Data(contentsOf: png).prefix(8)
        #expect(Array(header) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])

        let dump = try await Self.runChromium(["--dump-dom", page.absoluteString], in: directory)
        #expect(dump.status == 0, "chromium --dump-dom: \(dump.errors)")
        #expect(dump.output.contains("<svg id=\"tl\" class=\"rows\""))
        #expect(Self.occurrences(of: "<g class=\"row\"", in: dump.output) == requests)
        #expect(dump.output.contains("faultline check retries"))
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/chromium"), "needs Debian's chromium (make test installs it)"),
          .timeLimit(.minutes(2)))
    func rowsWithFindingsOnlyHidesTheOthers() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("faultline-html-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        // The page as written, plus a click on the switch once it has loaded.
        let click = "<script>document.getElementById(\"only\").click();</script>\n</body>"
        let html = Self.html.replacingOccurrences(of: "</body>", with: click)
        let page = directory.appendingPathComponent("report.html")
        try Data(html.utf8).write(to: page)
        let dump = try await Self.runChromium(["--dump-dom", page.absoluteString], in: directory)
        #expect(dump.status == 0, "chromium --dump-dom: \(dump.errors)")
        #expect(dump.output.contains("<g id=\"others\" style=\"display: none;\">"))
        let svg = try #require(dump.output.range(of: "<svg id=\"tl\"")).lowerBound
        let tag = String(dump.output[svg...].prefix { $0 != ">" })
        // 20 px group title, 6 rows of 20 px, 4 px margin.
        #expect(tag.contains("height=\"144\""), "\(tag)")
    }

    /// Runs headless chromium with its own profile directory, stdout to a file (a DOM dump
    /// is megabytes: a pipe would fill), killed after 90 s.
    static func runChromium(_ arguments: [String], in directory: URL) async throws -> (status: Int32, output: String, errors: String) {
        let id = UUID().uuidString
        let outURL = directory.appendingPathComponent("out-\(id)")
        let errURL = directory.appendingPathComponent("err-\(id)")
        let out = open(outURL.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        let err = open(errURL.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        defer {
            if out >= 0 { close(out) }
            if err >= 0 { close(err) }
        }
        try #require(out >= 0 && err >= 0, "cannot open \(directory.path)")
        let pid = try Spawn.start(
            Self.chromium,
            ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
             "--user-data-dir=\(directory.appendingPathComponent("profile-\(id)").path)"] + arguments,
            output: out,
            error: err
        )
        let exit = ProcessExit(pid: pid)
        // A bound against a hang, not a wait. The wait itself holds no thread: blocking
        // here would hold one of the cooperative pool's two, which other tests need.
        let bound = Task {
            try await Task.sleep(for: .seconds(90))
            exit.signal(SIGTERM)
            Issue.record("chromium \(arguments) ran over 90 s")
        }
        let ended = await exit.value()
        bound.cancel()
        let output = (try? String(contentsOf: outURL, encoding: .utf8)) ?? ""
        let errors = ((try? String(contentsOf: errURL, encoding: .utf8)) ?? "").suffix(2_000)
        return (ended.status, output, String(errors))
    }
}
