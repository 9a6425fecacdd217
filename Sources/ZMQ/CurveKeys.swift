import CZMQ

/// CurveZMQ keys in Z85, the 40-character text form libzmq reads and prints (32 bytes of key).
public enum CurveKeys {
    /// Whether this libzmq was built with CURVE security (libsodium).
    public static var isAvailable: Bool { zmq_has("curve") == 1 }

    /// A new key pair: `(public, secret)`, each 40 characters of Z85.
    /// - Throws: ``ZMQError`` when libzmq has no CURVE support.
    public static func generate() throws -> (publicKey: String, secretKey: String) {
        var publicKey = [CChar](repeating: 0, count: 41)
        var secretKey = [CChar](repeating: 0, count: 41)
        guard zmq_curve_keypair(&publicKey, &secretKey) == 0 else { throw ZMQError(call: "zmq_curve_keypair") }
        return (text(publicKey), text(secretKey))
    }

    /// The public key of `secretKey`, or nil when `secretKey` is not a Z85 key.
    public static func publicKey(forSecret secretKey: String) -> String? {
        guard isWellFormed(secretKey) else { return nil }
        var publicKey = [CChar](repeating: 0, count: 41)
        guard zmq_curve_public(&publicKey, secretKey) == 0 else { return nil }
        return text(publicKey)
    }

    /// Whether `key` is 40 characters of the Z85 alphabet: a CurveZMQ key as text.
    public static func isWellFormed(_ key: String) -> Bool { problem(with: key) == nil }

    /// The Z85 text of a 32-byte binary key (the ZAP request's form).
    public static func z85(_ bytes: [UInt8]) -> String? {
        guard bytes.count == 32 else { return nil }
        var out = [CChar](repeating: 0, count: 41)
        guard zmq_z85_encode(&out, bytes, 32) != nil else { return nil }
        return text(out)
    }

    /// Why `key` is not a key, for a located error; nil when it is one.
    public static func problem(with key: String) -> String? {
        if key.utf8.count != 40 { return "a CurveZMQ key is 40 characters of Z85, not \(key.utf8.count)" }
        if let bad = key.unicodeScalars.first(where: { !$0.isASCII || !alphabet.contains(UInt8($0.value)) }) {
            return "'\(bad)' is not a Z85 character"
        }
        return nil
    }

    private static let alphabet = Set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#".utf8)

    private static func text(_ chars: [CChar]) -> String {
        String(decoding: chars.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// A CurveZMQ client's keys: the server's public key and the client's own pair (all Z85).
public struct CurveClientKeys: Sendable, Equatable {
    public var serverKey: String
    public var publicKey: String
    public var secretKey: String

    public init(serverKey: String, publicKey: String, secretKey: String) {
        self.serverKey = serverKey
        self.publicKey = publicKey
        self.secretKey = secretKey
    }

    /// The client's keys from its secret key (the public one derived), or nil when either key
    /// is not Z85.
    public init?(serverKey: String, secretKey: String) {
        guard CurveKeys.isWellFormed(serverKey), let publicKey = CurveKeys.publicKey(forSecret: secretKey) else { return nil }
        self.init(serverKey: serverKey, publicKey: publicKey, secretKey: secretKey)
    }

    /// Makes `socket` a CURVE client with these keys; call before `connect`.
    public func apply(to socket: ZMQSocket) throws {
        try socket.makeCurveClient(serverKey: serverKey, publicKey: publicKey, secretKey: secretKey)
    }
}
