import JSON

extension TelemetrySample {
    /// The sample as a contract `telemetry` event, for the journal of acknowledged input.
    public func write(to w: inout JSONWriter) {
        w.beginObject()
        w.member("type", "telemetry")
        w.member("user", user)
        w.member("device", device)
        w.member("session", session)
        w.member("ts", Int(ts))
        if let sport { w.member("sport", sport) }
        for (name, value) in [
            ("distance_m", distance), ("hr", heartRate), ("speed_mps", speed), ("cadence", cadence), ("power_w", power),
            ("lat", latitude), ("lon", longitude), ("alt_m", altitude),
        ] {
            if let value { w.member(name, value) }
        }
        w.endObject()
    }
}
