/// `1 connection`, `2 connections`: a count with its noun, for reports people read.
/// `plural` for nouns that do not just take an "s".
package func counted(_ count: Int, _ noun: String, plural: String? = nil) -> String {
    "\(count) \(count == 1 ? noun : plural ?? noun + "s")"
}
