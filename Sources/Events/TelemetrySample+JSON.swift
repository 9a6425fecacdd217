import JSON

extension TelemetrySample {
    /// The optional measurements by their contract names, for writing and reading them alike.
    public static let measurements: [(name: String, path: WritableKeyPath<TelemetrySample, Double?> & Sendable)] = [
        ("distance_m", \.distance), ("hr", \.heartRate), ("speed_mps", \.speed), ("cadence", \.cadence), ("power_w", \.power),
        ("lat", \.latitude), ("lon", \.longitude), ("alt_m", \.altitude),
    ]

    /// The sample as a contract `telemetry` event: for the journal of acknowledged input, and
    /// the `history` op's raw points.
    public func write(to w: inout JSONWriter) {
        w.beginObject()
        w.member("type", "telemetry")
        w.member("user", user)
        w.member("device", device)
        w.member("session", session)
        w.member("ts", Int(ts))
        if let sport { w.member("sport", sport) }
        for (name, path) in Self.measurements {
            if let value = self[keyPath: path] { w.member(name, value) }
        }
        w.endObject()
    }

    /// Reads back what ``write(to:)`` wrote (clients of the `history` op), without the
    /// contract's validation: nil when `user`, `device`, `session` or an integer `ts` is missing.
    public init?(written value: JSONValue) {
        guard let user = value["user"]?.stringValue, let device = value["device"]?.stringValue,
            let session = value["session"]?.stringValue, let ts = value["ts"]?.int64Value
        else { return nil }
        self.init(user: user, device: device, session: session, ts: ts, sport: value["sport"]?.stringValue)
        for (name, path) in Self.measurements { self[keyPath: path] = value[name]?.doubleValue }
    }
}
