import Yams

/// `loss`: the datagram is discarded (UDP only).
///
/// Two models, as `tc netem` offers them:
/// - `independent` (the default): each datagram the rule covers is lost with the rule's
///   `probability`, independently of its neighbours.
/// - `gilbert_elliott`: a two-state Markov chain per session and direction. In the good
///   state a datagram is lost with `loss_good` (default 0), in the bad state with
///   `loss_bad` (default 1); after each datagram the chain moves good → bad with `p` and
///   bad → good with `r`. Losses come in bursts of mean length about `1 / r` (when
///   `loss_bad` is 1), which is what real congested or radio links do and what
///   independent loss never shows. The chain starts good and advances once per datagram
///   the rule covers, keyed by its ordinal, so the same seed gives the same bursts; the
///   rule's probability then gates whether a datagram is subject to the chain's loss.
///
///     fault: {kind: loss}
///     fault: {kind: loss, model: gilbert_elliott, p: 0.02, r: 0.3, loss_bad: 0.9}
public struct DatagramLossFault: DatagramFaultKind, ChainedFault {
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

    enum ModelName: String, CaseIterable {
        case independent
        case gilbertElliott = "gilbert_elliott"
    }

    public static let kind = "loss"
    public static let summary = "UDP: discard datagrams, independently or in Gilbert-Elliott bursts"
    public static let parameters = ["model", "p", "r", "loss_good", "loss_bad"]

    public var model: Model

    public init(_ model: Model = .independent) {
        self.model = model
    }

    /// Bursty loss with the Gilbert-Elliott chain.
    public static func gilbertElliott(p: Double, r: Double, lossGood: Double = 0, lossBad: Double = 1) -> DatagramLossFault {
        DatagramLossFault(.gilbertElliott(GilbertElliott(p: p, r: r, lossGood: lossGood, lossBad: lossBad)))
    }

    public init?(parameters: ReaderFields, reader: ProfileReader) {
        let model = reader.optional(parameters, "model") { reader.choice($0, what: "loss model", as: ModelName.self) }
        if parameters.has("model"), model == nil { return nil }
        guard model == .gilbertElliott else {
            let stray = ["p", "r", "loss_good", "loss_bad"].filter { parameters.has($0) }
            for key in stray {
                reader.fail(parameters.key(key), "\(key) belongs to 'model: gilbert_elliott'; independent loss uses the rule's probability as the loss rate")
            }
            guard stray.isEmpty else { return nil }
            self.init(.independent)
            return
        }
        let what = "gilbert_elliott loss (p: chance to move from good to bad, r: from bad to good)"
        let p = reader.required(parameters, "p", what: what).flatMap { reader.number($0, what: "p", in: 0...1) }
        let r = reader.required(parameters, "r", what: what).flatMap { reader.number($0, what: "r", in: 0...1) }
        let good = reader.optional(parameters, "loss_good") { reader.number($0, what: "loss_good", in: 0...1) }
        let bad = reader.optional(parameters, "loss_bad") { reader.number($0, what: "loss_bad", in: 0...1) }
        guard let p, let r, !parameters.has("loss_good") || good != nil, !parameters.has("loss_bad") || bad != nil else { return nil }
        self = .gilbertElliott(p: p, r: r, lossGood: good ?? 0, lossBad: bad ?? 1)
    }

    public var params: [String: String] {
        switch self.model {
        case .independent:
            return ["model": "independent"]
        case .gilbertElliott(let chain):
            return [
                "model": "gilbert_elliott", "p": ProfileReader.format(chain.p), "r": ProfileReader.format(chain.r),
                "loss_good": ProfileReader.format(chain.lossGood), "loss_bad": ProfileReader.format(chain.lossBad),
            ]
        }
    }

    public var explanation: String {
        switch self.model {
        case .independent:
            return "discards the datagram (nothing retransmits it)"
        case .gilbertElliott(let chain):
            let burst = chain.r > 0 ? "bad spells last about \(ProfileReader.format((10 / chain.r).rounded() / 10)) datagrams" : "once bad, the path stays bad"
            return "discards datagrams in bursts (Gilbert-Elliott: good to bad with chance \(ProfileReader.format(chain.p)), bad to good with \(ProfileReader.format(chain.r)); loss \(ProfileReader.format(chain.lossGood)) while good, \(ProfileReader.format(chain.lossBad)) while bad; \(burst))"
        }
    }

    public func effect(random: inout DecisionRandom) -> FaultEffect {
        .datagram(.drop)
    }

    /// `bad` is the chain's state. Independent loss draws nothing more than the rule's
    /// chance; the chain always draws twice more (loss, then move), so its path depends
    /// on nothing else.
    package func effect(fired: Bool, state bad: inout Bool, random: inout DecisionRandom) -> FaultEffect? {
        guard case .gilbertElliott(let chain) = self.model else { return fired ? .datagram(.drop) : nil }
        let lost = random.chance(bad ? chain.lossBad : chain.lossGood)
        let move = random.nextUnit()
        bad = bad ? !(move < chain.r) : move < chain.p
        return fired && lost ? .datagram(.drop) : nil
    }
}
