/// Decoding helpers shared by the datagram fault kinds, so every kind reads durations
/// and probabilities the same way a profile writes them (`"20ms"`, `0.25`) and rejects
/// bad values with a message that names the key and the valid range.
enum DatagramDecoding {
    /// A duration written as text (`"20ms"`, `"1.5s"`), or nil when the key is absent.
    static func duration<Key: CodingKey>(
        _ container: KeyedDecodingContainer<Key>,
        _ key: Key
    ) throws -> Duration? {
        guard let text = try container.decodeIfPresent(String.self, forKey: key) else { return nil }
        guard let duration = DurationText.parse(text) else {
            throw DecodingError.dataCorruptedError(
                forKey: key,
                in: container,
                debugDescription: "'\(text)' is not a duration; write \(DurationText.help)"
            )
        }
        return duration
    }

    /// A probability in [0, 1], or nil when the key is absent.
    static func probability<Key: CodingKey>(
        _ container: KeyedDecodingContainer<Key>,
        _ key: Key
    ) throws -> Double? {
        guard let value = try container.decodeIfPresent(Double.self, forKey: key) else { return nil }
        guard value >= 0, value <= 1 else {
            throw DecodingError.dataCorruptedError(
                forKey: key,
                in: container,
                debugDescription: "\(key.stringValue) is a probability from 0 to 1, got \(value)"
            )
        }
        return value
    }

    /// Turns a validation failure into a decoding error at `key`.
    static func check<Key: CodingKey>(
        _ container: KeyedDecodingContainer<Key>,
        _ key: Key,
        _ validate: () throws(InvalidInputError) -> Void
    ) throws {
        do {
            try validate()
        } catch {
            throw DecodingError.dataCorruptedError(forKey: key, in: container, debugDescription: error.message)
        }
    }
}
