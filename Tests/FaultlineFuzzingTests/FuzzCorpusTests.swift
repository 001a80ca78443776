import FaultlineFuzzing
import Foundation
import Testing

/// Replays every committed fuzz case (seeds, and each crash `make fuzz` found, kept under
/// `Corpus/<target>/`) through the code the fuzz executables run, so a fixed crash cannot
/// come back: a crash here fails the suite, a broken invariant fails the test.
struct FuzzCorpusTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Corpus")

    static func files(_ target: FuzzTarget) -> [URL] {
        let folder = Self.corpus.appendingPathComponent(target.rawValue)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.sorted().map { folder.appendingPathComponent($0) }
    }

    @Test(arguments: FuzzTarget.allCases)
    func everyCorpusFileKeepsItsInvariants(target: FuzzTarget) throws {
        let files = Self.files(target)
        // An empty or missing folder would make this pass having replayed nothing.
        #expect(files.count >= 3, "Corpus/\(target.rawValue) has \(files.count) files")
        for file in files {
            let bytes = try [UInt8](Data(contentsOf: file))
            let problems = target.run(bytes)
            #expect(problems.isEmpty, "\(target.rawValue)/\(file.lastPathComponent): \(problems)")
        }
    }
}
