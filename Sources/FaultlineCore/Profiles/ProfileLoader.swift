import Foundation
import Yams

/// Finds profiles by name or path, follows `extends`, merges, and checks the result.
///
/// A reference is a file when it names one (contains `/`, ends in `.yaml`, `.yml` or
/// `.json`, or exists); otherwise it is a library name, looked up first in the folders
/// of `FAULTLINE_PROFILE_PATH` (so a team can override a shipped profile), then in the
/// library built into the binary. `extends` paths are relative to the file that says
/// them.
///
/// Merging: the profiles named by `extends` apply first, in order, then the profile's
/// own fields. A rule with the name of an inherited rule replaces it in place; new rules
/// come after. `name` and `description` are always the profile's own; `seed`,
/// `framing` and `schedule` are inherited unless it sets them; `transport` is never
/// inherited, and must match.
package struct ProfileLoader: Sendable {
    /// Folders searched for `NAME.yaml` (`.yml`, `.json`) before the shipped library.
    package var searchPath: [String]
    /// The shipped library: name and text.
    package var library: [(name: String, text: String)]

    package init(searchPath: [String] = [], library: [(name: String, text: String)] = ShippedProfiles.all) {
        self.searchPath = searchPath
        self.library = library
    }

    /// A loader configured from the environment (`FAULTLINE_PROFILE_PATH`, colon-separated).
    package static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> ProfileLoader {
        let folders = (environment["FAULTLINE_PROFILE_PATH"] ?? "").split(separator: ":").map(String.init).filter { !$0.isEmpty }
        return ProfileLoader(searchPath: folders)
    }

    /// Loads, resolves and checks the profile `reference` names.
    ///
    /// - Throws: `ProfileError` with every problem found, in every file involved.
    package func load(_ reference: String) throws -> Profile {
        let reader = ProfileReader(file: reference)
        guard let source = self.locate(reference, relativeTo: nil, reader: reader, at: nil) else {
            throw ProfileError(reader.issues)
        }
        let profile = self.resolve(source, chain: [], reader: reader)
        if let profile, reader.issues.isEmpty {
            return profile
        }
        throw ProfileError(reader.issues.isEmpty ? [ProfileIssue(ProfileLocation(file: reference), "cannot be used")] : reader.issues)
    }

    /// Loads a profile from text that is not on disk (tests, the control API).
    package func load(text: String, file: String) throws -> Profile {
        let reader = ProfileReader(file: file)
        let source = Source(identity: "memory:\(file)", display: file, text: text, directory: nil)
        let profile = self.resolve(source, chain: [], reader: reader)
        if let profile, reader.issues.isEmpty { return profile }
        throw ProfileError(reader.issues)
    }

    /// Every profile this loader can name: the search path's files, then the shipped
    /// library (names already found in the search path are left out).
    package func catalog() -> [(name: String, origin: String, text: String)] {
        var entries: [(name: String, origin: String, text: String)] = []
        var seen = Set<String>()
        for folder in self.searchPath {
            let files = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
            for file in files.sorted() {
                guard let name = Self.profileName(ofFile: file), !seen.contains(name) else { continue }
                let path = (folder as NSString).appendingPathComponent(file)
                guard Self.isRegularFile(path), let text = Self.readText(path, reader: ProfileReader(file: path), at: ProfileLocation(file: path)) else { continue }
                seen.insert(name)
                entries.append((name, path, text))
            }
        }
        for (name, text) in self.library.sorted(by: { $0.name < $1.name }) where !seen.contains(name) {
            seen.insert(name)
            entries.append((name, "shipped", text))
        }
        return entries
    }

    /// The text a reference names, as the user would see it (`profile show`).
    package func text(of reference: String) throws -> (origin: String, text: String) {
        let reader = ProfileReader(file: reference)
        guard let source = self.locate(reference, relativeTo: nil, reader: reader, at: nil) else {
            throw ProfileError(reader.issues)
        }
        return (source.display, source.text)
    }

    // MARK: Finding

    struct Source {
        /// Canonical identity for cycle detection: an absolute path or `library:NAME`.
        var identity: String
        /// What locations print: the path as written, or `library:NAME`.
        var display: String
        var text: String
        var directory: String?
    }

    static let extensions = ["yaml", "yml", "json"]

    /// The largest profile file read: shipped profiles are a few KiB.
    package static let maxFileBytes = 1 << 20

    static func profileName(ofFile file: String) -> String? {
        // JSON Schemas live beside profiles (profiles/faultline-profile.schema.json).
        if file.hasSuffix(".schema.json") { return nil }
        let ext = (file as NSString).pathExtension
        guard Self.extensions.contains(ext) else { return nil }
        return (file as NSString).deletingPathExtension
    }

    static func looksLikePath(_ reference: String) -> Bool {
        reference.contains("/") || Self.extensions.contains((reference as NSString).pathExtension)
    }

    func locate(_ reference: String, relativeTo directory: String?, reader: ProfileReader, at location: ProfileLocation?) -> Source? {
        let where_ = location ?? ProfileLocation(file: reference)
        if Self.looksLikePath(reference) || FileManager.default.fileExists(atPath: reference) && directory == nil {
            var path = reference
            if let directory, !reference.hasPrefix("/") {
                path = (directory as NSString).appendingPathComponent(reference)
            }
            let display = directory == nil ? reference : path
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                reader.fail(at: where_, "no profile file at '\(path)'")
                return nil
            }
            guard !isDirectory.boolValue else {
                reader.fail(at: where_, "'\(path)' is a directory, not a profile file")
                return nil
            }
            guard let text = Self.readText(path, reader: reader, at: where_) else { return nil }
            let absolute = URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
            return Source(identity: absolute, display: display, text: text, directory: (path as NSString).deletingLastPathComponent)
        }
        for folder in self.searchPath {
            for ext in Self.extensions {
                let path = (folder as NSString).appendingPathComponent("\(reference).\(ext)")
                guard Self.isRegularFile(path) else { continue }
                guard let text = Self.readText(path, reader: reader, at: where_) else { return nil }
                let absolute = URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
                return Source(identity: absolute, display: path, text: text, directory: folder)
            }
        }
        if let entry = self.library.first(where: { $0.name == reference }) {
            return Source(identity: "library:\(reference)", display: "library:\(reference)", text: entry.text, directory: nil)
        }
        let names = self.catalog().map(\.name)
        let suggestion = ProfileReader.closest(to: reference, in: names).map { " (did you mean '\($0)'?)" } ?? ""
        reader.fail(at: where_, "no profile named '\(reference)'\(suggestion); 'faultline profile list' shows them, or give a file path")
        return nil
    }

    /// Whether `path` is a regular file, symbolic links followed. A search folder's
    /// other entries are passed over: opening a FIFO there waited for a writer for ever
    /// (`profile list` hung). A path the user names may still be a pipe (`<(…)`).
    static func isRegularFile(_ path: String) -> Bool {
        var status = stat()
        return stat(path, &status) == 0 && status.st_mode & S_IFMT == S_IFREG
    }

    /// The UTF-8 text of the file at `path`, read only up to `maxFileBytes` (never the
    /// whole of a huge file, /dev/zero or a pipe that never ends); nil, with the reason in
    /// `reader`, when it cannot be read, is too large or is not UTF-8.
    static func readText(_ path: String, reader: ProfileReader, at location: ProfileLocation) -> String? {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            reader.fail(at: location, "cannot read '\(path)'")
            return nil
        }
        defer { try? handle.close() }
        guard let data = try? handle.read(upToCount: Self.maxFileBytes + 1) ?? Data() else {
            reader.fail(at: location, "cannot read '\(path)'")
            return nil
        }
        guard data.count <= Self.maxFileBytes else {
            reader.fail(at: location, "'\(path)' is larger than \(Self.maxFileBytes / 1024 / 1024) MiB; a profile is a small text file")
            return nil
        }
        guard let text = String(data: data, encoding: .utf8) else {
            reader.fail(at: location, "'\(path)' is not UTF-8 text")
            return nil
        }
        return text
    }

    // MARK: Resolving

    /// Parses `source`, resolves its `extends` (depth first), merges, and checks. Issues
    /// of every file land in `reader`; nil when the profile cannot be built.
    func resolve(_ source: Source, chain: [Source], reader: ProfileReader) -> Profile? {
        let fileReader = ProfileReader(file: source.display)
        let document = ProfileParser.parse(source.text, reader: fileReader)
        reader.absorb(fileReader.issues)
        let parsedCleanly = fileReader.issues.isEmpty

        var inherited: [Profile] = []
        var texts = [source.text]
        for reference in document.extends {
            guard let parent = self.locate(reference.name, relativeTo: source.directory, reader: reader, at: reference.location) else {
                continue
            }
            let path = chain + [source]
            if let start = path.firstIndex(where: { $0.identity == parent.identity }) {
                let cycle = (path[start...].map(\.display) + [parent.display]).joined(separator: " -> ")
                reader.fail(at: reference.location, "extends cycle: \(cycle)")
                continue
            }
            let before = reader.issues.count
            if let profile = self.resolve(parent, chain: path, reader: reader), reader.issues.count == before {
                // Rules mean what their transport's engine does with them: no mixing.
                guard profile.transport == document.transport else {
                    reader.fail(
                        at: reference.location,
                        "'\(reference.name)' is a \(profile.transport.rawValue.uppercased()) profile and this one is for \(document.transport.rawValue.uppercased()); a profile extends only profiles of its own transport (say 'transport: \(profile.transport.rawValue)' here, or extend another profile)"
                    )
                    continue
                }
                inherited.append(profile)
                texts.append(profile.hash)
            }
        }
        var rules: [Rule] = []
        var seed: UInt64?
        var framing: Profile.Framing?
        var schedule: Schedule?
        for parent in inherited {
            Self.merge(parent.rules, into: &rules)
            seed = parent.seed ?? seed
            framing = parent.framing ?? framing
            schedule = parent.schedule ?? schedule
        }
        Self.merge(document.rules, into: &rules)
        seed = document.seed ?? seed
        framing = document.framing ?? framing
        schedule = document.schedule ?? schedule

        let profile = Profile(
            name: document.name ?? "",
            description: document.description ?? "",
            seed: seed,
            framing: framing,
            transport: document.transport,
            rules: rules,
            schedule: schedule,
            extends: document.extends.map(\.name),
            source: source.display,
            hash: Self.digest(texts)
        )
        let before = reader.issues.count
        // With problems in the file, the rules that parsed are still checked, so one run
        // reports every problem; only what a rule that failed could make false is not.
        ProfileChecks.check(profile, document: document, reader: reader, partial: !parsedCleanly)
        guard parsedCleanly, document.name != nil, document.description != nil else { return nil }
        return reader.issues.count == before ? profile : nil
    }

    static func merge(_ incoming: [Rule], into rules: inout [Rule]) {
        for rule in incoming {
            if let index = rules.firstIndex(where: { $0.name == rule.name }) {
                rules[index] = rule
            } else {
                rules.append(rule)
            }
        }
    }

    /// FNV-1a (64-bit) over the texts, as 16 hex digits: enough to tell profiles apart
    /// in a log, with no dependency.
    static func digest(_ texts: [String]) -> String {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for text in texts {
            for byte in text.utf8 {
                hash ^= UInt64(byte)
                hash = hash &* 0x0000_0100_0000_01B3
            }
            hash ^= 0xFF
            hash = hash &* 0x0000_0100_0000_01B3
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
