/// `loss`: the datagram is silently discarded.
///
/// Two models, as `tc netem` offers them:
/// - `independent` (the default): each datagram the rule covers is lost with the rule's
///   `probability`, independently of its neighbours.
/// - `gilbert_elliott`: a two-state Markov chain per session and direction. In the good
///   state a datagram is lost with `loss_good` (default 0), in the bad state with
///   `loss_bad` (default 1); after each datagram the chain moves good → bad with `p` and
///   bad → good with `r`. Losses come in bursts of mean length about `1 / r` (when
///   `loss_bad` is 1), which is what real congested or radio links do and what
///   independent loss never shows. The chain starts good at datagram 0 and advances once
///   per datagram, keyed by its ordinal, so the same seed gives the same bursts.
///
/// ```yaml
/// fault: {kind: loss}                                   # rule probability = loss rate
/// fault: {kind: loss, model: gilbert_elliott, p: 0.02, r: 0.3, loss_bad: 0.9}
/// ```
public struct DatagramLoss: Decodable, Sendable, Equatable {
    public static let kind = "loss"

    /// The Gilbert-Elliott chain's parameters (all probabilities in [0, 1]).
    public struct GilbertElliott: Sendable, Equatable {
        /// Chance to move from the good to the bad state after a datagram.
        public var p: Double
        /// Chance to move from the bad to the good state after a datagram.
        public var r: Double
        /// Chance a datagram is lost while the chain is good (netem's 1 - k).
        public var lossGood: Double
        /// Chance a datagram is lost while the chain is bad (netem's 1 - h).
        public var lossBad: Double

        public init(p: Double, r: Double, lossGood: Double = 0, lossBad: Double = 1) {
            self.p = p
            self.r = r
            self.lossGood = lossGood
            self.lossBad = lossBad
        }
    }

    public enum Model: Sendable, Equatable {
        case independent
        case gilbertElliott(GilbertElliott)
    }

    public var model: Model

    public init(_ model: Model = .independent) {
        self.model = model
    }

    /// Independent loss: the rule's probability is the loss rate.
    public static let independent = DatagramLoss(.independent)

    /// Bursty loss with the Gilbert-Elliott chain.
    public static func gilbertElliott(p: Double, r: Double, lossGood: Double = 0, lossBad: Double = 1) -> DatagramLoss {
        DatagramLoss(.gilbertElliott(GilbertElliott(p: p, r: r, lossGood: lossGood, lossBad: lossBad)))
    }

    /// Rejects probabilities outside [0, 1].
    public func validate() throws(InvalidInputError) {
        guard case .gilbertElliott(let chain) = self.model else { return }
        for (name, value) in [("p", chain.p), ("r", chain.r), ("loss_good", chain.lossGood), ("loss_bad", chain.lossBad)] {
            guard value >= 0, value <= 1 else {
                throw InvalidInputError("loss: \(name) is a probability from 0 to 1, got \(value)")
            }
        }
    }

    enum CodingKeys: String, CodingKey {
        case model, p, r
        case lossGood = "loss_good"
        case lossBad = "loss_bad"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let model = try container.decodeIfPresent(String.self, forKey: .model) ?? "independent"
        switch model {
        case "independent":
            for key in [CodingKeys.p, .r, .lossGood, .lossBad] where container.contains(key) {
                throw DecodingError.dataCorruptedError(
                    forKey: key,
                    in: container,
                    debugDescription: "\(key.stringValue) belongs to model: gilbert_elliott; independent loss uses the rule's probability"
                )
            }
            self.model = .independent
        case "gilbert_elliott":
            guard let p = try DatagramDecoding.probability(container, .p),
                let r = try DatagramDecoding.probability(container, .r)
            else {
                throw DecodingError.dataCorruptedError(
                    forKey: .model,
                    in: container,
                    debugDescription: "gilbert_elliott loss needs p (good to bad) and r (bad to good), both from 0 to 1"
                )
            }
            self.model = .gilbertElliott(
                GilbertElliott(
                    p: p,
                    r: r,
                    lossGood: try DatagramDecoding.probability(container, .lossGood) ?? 0,
                    lossBad: try DatagramDecoding.probability(container, .lossBad) ?? 1
                )
            )
        default:
            throw DecodingError.dataCorruptedError(
                forKey: .model,
                in: container,
                debugDescription: "loss model '\(model)' is unknown; use independent or gilbert_elliott"
            )
        }
    }
}
