import Yams

/// `loss`: the datagram is discarded (UDP only). Independent (the rule's probability is
/// the loss rate) or in bursts, with a Gilbert-Elliott chain per session and direction.
///
///     fault: {kind: loss}
///     fault: {kind: loss, model: gilbert_elliott, p: 0.02, r: 0.3, loss_bad: 0.9}
public struct DatagramLossFault: DatagramFaultKind {
    enum Model: String, CaseIterable {
        case independent
        case gilbertElliott = "gilbert_elliott"
    }

    public static let kind = DatagramLoss.kind
    public static let summary = "UDP: discard datagrams, independently or in Gilbert-Elliott bursts"
    public static let parameters = ["model", "p", "r", "loss_good", "loss_bad"]

    public var loss: DatagramLoss

    public init(_ loss: DatagramLoss = .independent) {
        self.loss = loss
    }

    public init?(parameters: ReaderFields, reader: ProfileReader) {
        let model = reader.optional(parameters, "model") { reader.choice($0, what: "loss model", as: Model.self) }
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
        self.init(.gilbertElliott(p: p, r: r, lossGood: good ?? 0, lossBad: bad ?? 1))
    }

    public var datagramFault: DatagramFault { .loss(self.loss) }

    public var params: [String: String] {
        switch self.loss.model {
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
        switch self.loss.model {
        case .independent:
            return "discards the datagram (nothing retransmits it)"
        case .gilbertElliott(let chain):
            let burst = chain.r > 0 ? "bad spells last about \(ProfileReader.format((10 / chain.r).rounded() / 10)) datagrams" : "once bad, the path stays bad"
            return "discards datagrams in bursts (Gilbert-Elliott: good to bad with chance \(ProfileReader.format(chain.p)), bad to good with \(ProfileReader.format(chain.r)); loss \(ProfileReader.format(chain.lossGood)) while good, \(ProfileReader.format(chain.lossBad)) while bad; \(burst))"
        }
    }
}
