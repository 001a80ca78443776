/// The report for the post-incident review. (First cut: replaced below.)
public enum HTMLReportWriter {
    public static func write(_ report: CheckReport) -> String {
        "<!DOCTYPE html>\n<html><body><pre></pre></body></html>\n"
    }
}
