import ClubKernel
import Events
import JSON
import Testing
import Users

/// Who each key is: configured services and admins, devices as their events say — registered,
/// rotated (the same device with a new key), retired — and the refusals that follow.
@Suite struct KeyDirectoryTests {
    static let shopKey = String(repeating: "s", count: 40)
    static let opsKey = String(repeating: "o", count: 40)
    static let watchKey = String(repeating: "w", count: 40)
    static let newKey = String(repeating: "n", count: 40)

    let devices = DevicesGate(reservedKeys: [shopKey, opsKey])
    var directory: KeyDirectory {
        KeyDirectory(
            configured: [
                Self.shopKey: .service("shop", events: EventTypePatterns(["profile", "bonus.spent"]), ops: ["balance"]),
                Self.opsKey: .admin("ops"),
            ], devices: devices)
    }

    func admit(_ json: String, offset: Int64) -> Refusal? {
        guard case .object(let body) = try! JSONValue.parse(Array(json.utf8)) else { return nil }
        let event = ActivityEvent(
            offset: offset, id: body["id"]!.stringValue!, type: body["type"]!.stringValue!, user: body["user"]!.stringValue!, at: offset,
            body: body)
        return devices.admit(event)
    }

    @Test func configuredPrincipalsAndUnknownKeys() {
        #expect(directory.principal(forKey: Self.shopKey)?.description == "service:shop")
        #expect(directory.principal(forKey: Self.opsKey)?.kind == .admin)
        #expect(directory.admission(key: Self.watchKey, subscribing: false) == .failure(.unknownKey))
        #expect(directory.admission(key: Self.shopKey, subscribing: true).map(\.name) == .success("shop"))
    }

    @Test func deviceKeysFollowRegistrationRotationAndRetirement() {
        #expect(admit(#"{"type":"device.registered","id":"1","user":"ann","device":"w1","public_key":"\#(Self.watchKey)"}"#, offset: 1) == nil)
        #expect(directory.principal(forKey: Self.watchKey) == .device("w1", user: "ann"))
        // A device may not subscribe.
        #expect(directory.admission(key: Self.watchKey, subscribing: true) == .failure(.notSubscriber))
        // Another device cannot take the key, nor a device a service's key.
        #expect(admit(#"{"type":"device.registered","id":"2","user":"bob","device":"b1","public_key":"\#(Self.watchKey)"}"#, offset: 2)?.reason == .conflict)
        #expect(admit(#"{"type":"device.registered","id":"3","user":"bob","device":"b1","public_key":"\#(Self.shopKey)"}"#, offset: 3)?.reason == .conflict)
        // Rotation: the same device with a new key; the old key is refused at once.
        #expect(admit(#"{"type":"device.registered","id":"4","user":"ann","device":"w1","public_key":"\#(Self.newKey)"}"#, offset: 4) == nil)
        #expect(directory.principal(forKey: Self.newKey) == .device("w1", user: "ann"))
        #expect(directory.principal(forKey: Self.watchKey) == nil)
        #expect(directory.admission(key: Self.watchKey, subscribing: false) == .failure(.unknownKey))
        // The old key is free for another device now.
        #expect(admit(#"{"type":"device.registered","id":"5","user":"bob","device":"b1","public_key":"\#(Self.watchKey)"}"#, offset: 5) == nil)
        #expect(directory.principal(forKey: Self.watchKey) == .device("b1", user: "bob"))
        // Retired: refused, and said so.
        #expect(admit(#"{"type":"device.retired","id":"6","user":"ann","device":"w1"}"#, offset: 6) == nil)
        #expect(directory.principal(forKey: Self.newKey) == nil)
        #expect(directory.admission(key: Self.newKey, subscribing: false) == .failure(.retiredKey))
        // A retired device's key may go to a new device.
        #expect(admit(#"{"type":"device.registered","id":"7","user":"cy","device":"c1","public_key":"\#(Self.newKey)"}"#, offset: 7) == nil)
        #expect(directory.principal(forKey: Self.newKey) == .device("c1", user: "cy"))
    }
}
