/// A place in a profile file, as editors and compilers print it: `FILE:LINE:COLUMN`.
///
/// Lines and columns count from 1 (libyaml's marks, which Yams passes on). A location
/// without a line names the whole file (it could not be read, or it is empty).
package struct ProfileLocation: Hashable, Sendable, CustomStringConvertible {
    package var file: String
    package var line: Int?
    package var column: Int?

    package init(file: String, line: Int? = nil, column: Int? = nil) {
        self.file = file
        self.line = line
        self.column = column
    }

    package var description: String {
        guard let line = self.line else { return self.file }
        return "\(self.file):\(line):\(self.column ?? 1)"
    }
}
