/// Writes a `CheckReport` in any `ReportFormat`.
///
/// Every format is written from the same model, so they never disagree. The result is
/// the whole document as a `String`; the caller writes it as UTF-8 (to stdout or to the
/// `-o FILE`). Every document ends with a newline. Writing never fails: the model has no
/// state a format cannot show (a non-finite number in JSON is written as a string, see
/// `JSONReportWriter`).
package enum ReportWriter {
    /// The whole document for `report` in `format`, as UTF-8 text ending with a newline.
    package static func write(_ report: CheckReport, as format: ReportFormat) -> String {
        switch format {
        case .text: TextReportWriter.write(report)
        case .json: JSONReportWriter.write(report)
        case .junit: JUnitReportWriter.write(report)
        case .html: HTMLReportWriter.write(report)
        }
    }
}
