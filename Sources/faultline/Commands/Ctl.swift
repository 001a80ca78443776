import ArgumentParser
import FaultlineCore
import Foundation

/// `faultline ctl`: drives a running `faultline serve` from the shell.
struct Ctl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Drive a running 'faultline serve': list, create and delete proxies, set profiles, add and remove rules, capture, read events.",
        discussion: """
            Talks to the native /v1 API of the server at --api (or FAULTLINE_API; \
            127.0.0.1:8474 by default) with the token in --token or FAULTLINE_TOKEN. \
            Both go before the subcommand or after it: 'faultline ctl --api \
            127.0.0.1:9000 list' and 'faultline ctl list --api 127.0.0.1:9000' are the same.

            Exit status: 0 done; 2 the server refused the request as bad input (a bad \
            profile or rule, a name not found or already taken); 3 a runtime failure \
            (the server cannot be reached or failed, a listen address in use).
            """,
        subcommands: [
            List.self, Show.self, Create.self, Delete.self, SetProfile.self, RuleCommand.self, ToxicCommand.self, Pcap.self,
            Events.self, Reset.self,
        ]
    )

    /// `--api` and `--token` before the subcommand (`ctl --api HOST:PORT list`): each
    /// subcommand's own `@OptionGroup` of the same type is given these values, so the
    /// options are taken before or after the subcommand alike.
    @OptionGroup var connection: Connection

    struct Connection: ParsableArguments {
        @Option(help: ArgumentHelp("The server's control API (or FAULTLINE_API).", valueName: "host:port"))
        var api: String?

        @Option(help: ArgumentHelp("Bearer token (or FAULTLINE_TOKEN).", valueName: "token"))
        var token: String?

        func client() throws -> ControlClient {
            let environment = ProcessInfo.processInfo.environment
            return try ControlClient(
                address: self.api ?? environment["FAULTLINE_API"] ?? "127.0.0.1:8474",
                token: self.token ?? environment["FAULTLINE_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
            )
        }

        /// Sends the request and turns a refusal into the SPEC's exit statuses.
        func call(_ method: String, _ path: String, body: String? = nil, contentType: String = "application/json") throws -> ControlClient.Reply {
            let reply = try self.client().send(method, path, body: body, contentType: contentType)
            try Self.check(reply)
            return reply
        }

        static func check(_ reply: ControlClient.Reply) throws {
            guard reply.status >= 300 else { return }
            let message = Self.message(reply.body) ?? "HTTP \(reply.status)"
            if reply.status >= 500 || message.contains("address already in use") {
                throw RuntimeFailure(message)
            }
            if reply.status == 401 { throw InvalidInputError("\(message) (give --token or FAULTLINE_TOKEN)") }
            throw InvalidInputError(message)
        }

        static func message(_ body: String) -> String? {
            guard let object = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any] else { return nil }
            if let error = object["error"] as? [String: Any], let message = error["message"] as? String { return message }
            return object["error"] as? String
        }
    }

    static func path(_ segments: String...) -> String {
        "/v1/" + segments.map { $0.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? $0 }.joined(separator: "/")
    }

    static func object(_ body: String) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]) ?? [:]
    }

    static func json(_ object: [String: Any]) -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the proxies: name, listen, upstream, state, plan and rules.")
        @OptionGroup var connection: Connection
        @Flag(help: "Print the server's JSON as it is.") var json = false

        func run() throws {
            let reply = try self.connection.call("GET", "/v1/proxies")
            if self.json {
                Output.line(reply.body)
                return
            }
            let proxies = (Ctl.object(reply.body)["proxies"] as? [[String: Any]]) ?? []
            if proxies.isEmpty {
                Output.line("no proxies")
                return
            }
            for proxy in proxies {
                let rules = ((proxy["rules"] as? [[String: Any]]) ?? []).compactMap { $0["name"] as? String }
                let state = (proxy["enabled"] as? Bool) == true ? "enabled" : "disabled"
                let profile = ((proxy["profile"] as? [String: Any])?["name"] as? String) ?? "-"
                Output.line(
                    "\(proxy["name"] ?? "?")\t\(proxy["transport"] ?? "tcp")\t\(proxy["listen"] ?? "?") -> \(proxy["upstream"] ?? "?")\t\(state)\tprofile \(profile)\trules \(rules.isEmpty ? "-" : rules.joined(separator: ","))"
                )
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print one proxy as JSON.")
        @OptionGroup var connection: Connection
        @Argument(help: "The proxy's name.") var name: String

        func run() throws {
            Output.line(try self.connection.call("GET", Ctl.path("proxies", self.name)).body)
        }
    }

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a proxy and print it; 'listening on HOST:PORT' comes first.")
        @OptionGroup var connection: Connection
        @Argument(help: "The proxy's name.") var name: String
        @Option(help: ArgumentHelp("Address to accept clients on (127.0.0.1:0 by default).", valueName: "host:port")) var listen: String?
        @Option(help: ArgumentHelp("Address of the real service. A host name is resolved for each connection and its addresses are tried in turn.", valueName: "host:port")) var upstream: String
        @Option(help: ArgumentHelp("A profile the server knows by name.", valueName: "name")) var profile: String?
        @Option(help: ArgumentHelp("A profile file, sent as text.", valueName: "file")) var profileFile: String?
        @Option(help: ArgumentHelp("Seed for every fault decision.", valueName: "n")) var seed: UInt64?
        @Option(help: ArgumentHelp("raw, line, length, http or resp.", valueName: "framing")) var framing: String?
        @Flag(help: "Put each framed message's bytes in the log (what 'check idempotency' replays; needs --framing).") var recordPayloads = false
        @Flag(help: "Proxy UDP datagrams.") var udp = false
        @Flag(help: "Create it disabled (not listening).") var disabled = false

        func run() throws {
            var body: [String: Any] = ["name": self.name, "upstream": self.upstream, "enabled": !self.disabled]
            if let listen = self.listen { body["listen"] = listen }
            if let profile = self.profile { body["profile"] = profile }
            if let file = self.profileFile { body["profile_text"] = try Ctl.read(file) }
            if let seed = self.seed { body["seed"] = String(seed) }
            if let framing = self.framing { body["framing"] = framing }
            if self.recordPayloads { body["record_payloads"] = true }
            if self.udp { body["transport"] = "udp" }
            let reply = try Ctl.naming("profile", as: self.profileFile) { try self.connection.call("POST", "/v1/proxies", body: Ctl.json(body)) }
            if let listen = Ctl.object(reply.body)["listen"] as? String { Output.line("listening on \(listen)") }
            Output.line(reply.body)
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a proxy (its open connections close).")
        @OptionGroup var connection: Connection
        @Argument(help: "The proxy's name.") var name: String

        func run() throws {
            _ = try self.connection.call("DELETE", Ctl.path("proxies", self.name))
        }
    }

    struct SetProfile: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "profile",
            abstract: "Put a whole profile on a proxy (a name the server knows, or --file), or take it off (--none)."
        )
        @OptionGroup var connection: Connection
        @Argument(help: "The proxy's name.") var name: String
        @Argument(help: "A profile the server knows by name.") var profile: String?
        @Option(help: ArgumentHelp("A profile file (YAML or JSON), sent as text.", valueName: "file")) var file: String?
        @Flag(help: "Remove the proxy's profile.") var none = false

        func validate() throws {
            if [self.profile != nil, self.file != nil, self.none].filter({ $0 }).count != 1 {
                throw ValidationError("give one of PROFILE, --file FILE or --none")
            }
        }

        func run() throws {
            let reply: ControlClient.Reply
            if self.none {
                reply = try self.connection.call("DELETE", Ctl.path("proxies", self.name, "profile"))
            } else if let file = self.file {
                reply = try Ctl.naming("profile", as: file) {
                    try self.connection.call("PUT", Ctl.path("proxies", self.name, "profile"), body: try Ctl.read(file), contentType: "application/yaml")
                }
            } else {
                reply = try self.connection.call("PUT", Ctl.path("proxies", self.name, "profile"), body: Ctl.json(["name": self.profile ?? ""]))
            }
            let version = Ctl.object(reply.body)["plan_version"].map { "\($0)" } ?? "?"
            Output.line("plan version \(version)")
        }
    }

    struct RuleCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rule",
            abstract: "Add or remove one rule of a proxy.",
            subcommands: [Add.self, Remove.self]
        )

        struct Add: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Add one rule, written as in a profile (YAML or JSON).")
            @OptionGroup var connection: Connection
            @Argument(help: "The proxy's name.") var name: String
            @Option(help: ArgumentHelp("A file holding the rule.", valueName: "file")) var file: String?
            @Option(help: ArgumentHelp("The rule itself, e.g. '{name: slow, fault: {kind: delay, latency: 200ms}}'.", valueName: "rule")) var rule: String?

            func validate() throws {
                if (self.file == nil) == (self.rule == nil) { throw ValidationError("give --file FILE or --rule TEXT") }
            }

            func run() throws {
                let text = try self.rule ?? Ctl.read(self.file ?? "")
                let reply = try Ctl.naming("rule", as: self.file ?? "--rule") {
                    try self.connection.call("POST", Ctl.path("proxies", self.name, "rules"), body: text, contentType: "application/yaml")
                }
                Output.line(reply.body)
            }
        }

        struct Remove: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Remove one rule added with 'rule add'.")
            @OptionGroup var connection: Connection
            @Argument(help: "The proxy's name.") var name: String
            @Argument(help: "The rule's name.") var rule: String

            func run() throws {
                _ = try self.connection.call("DELETE", Ctl.path("proxies", self.name, "rules", self.rule))
            }
        }
    }

    struct ToxicCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "toxic",
            abstract: "Add or remove a Toxiproxy toxic (latency, bandwidth, slow_close, timeout, reset_peer, slicer, limit_data).",
            subcommands: [Add.self, Remove.self]
        )

        struct Add: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Add a toxic: -t TYPE [-n NAME] [--toxicity F] [-a KEY=VALUE]... [--upstream].")
            @OptionGroup var connection: Connection
            @Argument(help: "The proxy's name.") var name: String
            @Option(name: [.short, .customLong("type")], help: "The toxic's type.") var type: String
            @Option(name: [.customShort("n"), .customLong("toxic-name")], help: "Its name (TYPE_STREAM by default).") var toxicName: String?
            @Option(help: "The share of connections it affects, 0 to 1.") var toxicity: Double = 1
            @Option(name: [.short, .customLong("attribute")], help: ArgumentHelp("An attribute, e.g. latency=100.", valueName: "key=value"))
            var attributes: [String] = []
            @Flag(help: "Act on client-to-server data (downstream by default).") var upstream = false

            func run() throws {
                var values: [String: Any] = [:]
                for pair in self.attributes {
                    let parts = pair.split(separator: "=", maxSplits: 1)
                    guard parts.count == 2, let number = Int64(parts[1]) else {
                        throw ValidationError("-a \(pair): write KEY=WHOLE_NUMBER, e.g. latency=100")
                    }
                    values[String(parts[0])] = number
                }
                var body: [String: Any] = ["type": self.type, "stream": self.upstream ? "upstream" : "downstream", "toxicity": self.toxicity, "attributes": values]
                if let name = self.toxicName { body["name"] = name }
                Output.line(try self.connection.call("POST", Ctl.path("proxies", self.name, "toxics"), body: Ctl.json(body)).body)
            }
        }

        struct Remove: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Remove a toxic by name.")
            @OptionGroup var connection: Connection
            @Argument(help: "The proxy's name.") var name: String
            @Argument(help: "The toxic's name.") var toxic: String

            func run() throws {
                _ = try self.connection.call("DELETE", Ctl.path("proxies", self.name, "toxics", self.toxic))
            }
        }
    }

    struct Events: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a proxy's recent events (JSON Lines); --follow keeps printing new ones.")
        @OptionGroup var connection: Connection
        @Argument(help: "The proxy's name.") var name: String
        @Option(help: "How many recent events.") var limit: Int = 100
        @Option(help: ArgumentHelp("Only events of this type (fault, message, conn_open, plan_change...).", valueName: "type")) var type: String?
        @Flag(help: "Keep printing events as they are written, across restarts of the proxy, until interrupted or the proxy is deleted.") var follow = false

        func run() throws {
            var query = "?limit=\(self.limit)"
            if let type = self.type { query += "&type=\(type)" }
            if self.follow { query += "&follow=true" }
            let path = Ctl.path("proxies", self.name, "events") + query
            let reply = try self.connection.client().send("GET", path) { chunk in
                // Blank lines are the server's keep-alives while nothing happens.
                let lines = chunk.split(separator: "\n", omittingEmptySubsequences: true)
                guard !lines.isEmpty else { return }
                print(lines.joined(separator: "\n"))
                fflush(nil)
            }
            try Connection.check(reply)
        }
    }

    struct Pcap: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start, stop or show a proxy's packet capture of both legs (open connections included).",
            discussion: """
                Prints the capture as JSON: whether it captures, the file (under the server's \
                --pcap DIR, or a directory of its own), packets written and dropped. Starting a \
                capture that runs, or stopping one that does not, exits 2.
                """
        )

        enum Action: String, ExpressibleByArgument, CaseIterable {
            case start, stop, show
        }

        @OptionGroup var connection: Connection
        @Argument(help: ArgumentHelp("start, stop or show.", valueName: "action")) var action: Action
        @Argument(help: "The proxy's name.") var name: String

        func run() throws {
            let method = switch self.action {
            case .start: "POST"
            case .stop: "DELETE"
            case .show: "GET"
            }
            Output.line(try self.connection.call(method, Ctl.path("proxies", self.name, "pcap")).body)
        }
    }

    struct Reset: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Enable every proxy and remove every toxic, rule and profile.")
        @OptionGroup var connection: Connection

        func run() throws {
            _ = try self.connection.call("POST", "/v1/reset")
        }
    }

    /// A profile or rule file's text, read only up to the size a profile may have: the
    /// server refuses a larger body at once, and a client still sending it waited for
    /// ever (a trial's 10 MB file).
    static func read(_ file: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: file), let data = try? handle.read(upToCount: ProfileLoader.maxFileBytes + 1)
        else { throw InvalidInputError("\(file): cannot read the file") }
        try? handle.close()
        guard data.count <= ProfileLoader.maxFileBytes else {
            throw InvalidInputError("\(file): larger than \(ProfileLoader.maxFileBytes / 1024 / 1024) MiB; a profile or rule is a small text file")
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// Runs `call`, naming positions in what it sent as the user knows it. The server
    /// names positions in a rule or profile it was sent `rule:LINE:COL` or
    /// `profile:LINE:COL` (the two must agree); they are in the user's file (or the
    /// `--rule` text), so errors say `rules.yaml:LINE:COL`. Nil `label`: unchanged.
    static func naming<T>(_ sent: String, as label: String?, _ call: () throws -> T) throws -> T {
        do {
            return try call()
        } catch let error as InvalidInputError {
            guard let label else { throw error }
            let prefix = sent + ":"
            throw InvalidInputError(
                error.message.split(separator: "\n", omittingEmptySubsequences: false).map { line in
                    line.hasPrefix(prefix) ? label + line.dropFirst(sent.count) : String(line)
                }.joined(separator: "\n")
            )
        }
    }
}
