/// Why an ingest frame or an event was refused: a stable machine code.
///
/// These codes appear on the `rejected` topic, in `submit` replies and in the
/// `clubd_rejected_total{reason=...}` metric, so they never change meaning.
public struct RejectReason: Hashable, Sendable, CustomStringConvertible {
    public let code: String

    public init(_ code: String) { self.code = code }

    public var description: String { code }

    /// The frame had no bytes.
    public static let emptyFrame = RejectReason("empty_frame")
    /// The frame was larger than `ingest.max_frame_bytes`.
    public static let frameTooLarge = RejectReason("frame_too_large")
    /// A batch had more elements than `ingest.max_batch_events`.
    public static let batchTooLarge = RejectReason("batch_too_large")
    /// A multipart ingest message: an event or batch is one single frame.
    public static let multipartMessage = RejectReason("multipart_message")
    /// The frame is not well-formed JSON.
    public static let malformedJSON = RejectReason("malformed_json")
    /// The frame is not valid UTF-8.
    public static let invalidUTF8 = RejectReason("invalid_utf8")
    /// The JSON nests deeper than the limit.
    public static let tooDeep = RejectReason("too_deep")
    /// NaN, Infinity or a number beyond the range of a double.
    public static let notFinite = RejectReason("not_finite")
    /// The frame, or an element of a batch, is not a JSON object.
    public static let notAnObject = RejectReason("not_an_object")
    /// A required field is absent.
    public static let missingField = RejectReason("missing_field")
    /// A field has the wrong JSON type.
    public static let wrongType = RejectReason("wrong_type")
    /// A value is outside its allowed range.
    public static let outOfRange = RejectReason("out_of_range")
    /// A time that is neither epoch milliseconds nor RFC 3339, or before the year 2000.
    public static let invalidTimestamp = RejectReason("invalid_timestamp")
    /// An event time too far in the future (`ingest.max_future`).
    public static let futureTimestamp = RejectReason("future_timestamp")
    /// An id that is empty, too long or uses characters outside `[A-Za-z0-9._:-]`.
    public static let invalidID = RejectReason("invalid_id")
    /// The event carries personal data (a name, e-mail, phone or address field, or an
    /// e-mail or phone number as user id). The club stores only opaque ids.
    public static let personalData = RejectReason("personal_data")
    /// The event type is not one the contract defines.
    public static let unsupportedType = RejectReason("unsupported_type")
    /// A workout from an external system without the user's active connection to it.
    public static let noConsent = RejectReason("no_consent")
    /// The store could not make the event durable (a full disk, a failing device); it was
    /// not taken. Ingest senders see it on `rejected`, `submit` clients in the reply.
    public static let storageFailed = RejectReason("storage_failed")
    /// The event's window was closed for good (beyond the allowed lateness).
    public static let late = RejectReason("late")
    /// A `programme.*` event naming a programme the training catalogue does not hold.
    public static let unknownProgramme = RejectReason("unknown_programme")
    /// A `programme.paused`, `.resumed` or `.left` of a user not enrolled in that programme.
    public static let notEnrolled = RejectReason("not_enrolled")
    /// An event that contradicts the state it applies to (resuming what is not paused).
    public static let conflict = RejectReason("conflict")
    /// A group that does not exist or is closed.
    public static let unknownGroup = RejectReason("unknown_group")
    /// A session that was never scheduled.
    public static let unknownSession = RejectReason("unknown_session")
    /// A device the user does not hold (retiring it). (extension)
    public static let unknownDevice = RejectReason("unknown_device")
    /// Gear the user does not have (retiring it). (extension)
    public static let unknownGear = RejectReason("unknown_gear")
    /// A competition that was never created.
    public static let unknownCompetition = RejectReason("unknown_competition")
    /// A post that does not exist in the group named (a reply or hiding). (extension)
    public static let unknownPost = RejectReason("unknown_post")
    /// The sender may not do this: a non-member posting, a non-owner closing a group.
    public static let forbidden = RejectReason("forbidden")
    /// More posts in a minute than `community.posts_per_minute`.
    public static let rateLimited = RejectReason("rate_limited")
}

/// Why an event cannot be taken or cannot apply: a reason code and a message for people. What
/// the decoders, the engines and the admission gates throw.
public struct Refusal: Error, Sendable, Equatable {
    public let reason: RejectReason
    public let message: String

    public init(_ reason: RejectReason, _ message: String) {
        self.reason = reason
        self.message = message
    }
}

/// One refusal: the reason, a human message, where it was and a short excerpt.
public struct Rejection: Sendable, Equatable {
    public let reason: RejectReason
    public let message: String
    /// Index of the element within a batch, or nil for the frame itself.
    public let index: Int?
    /// The first bytes of the offending frame or element, as lossy UTF-8.
    public let excerpt: String

    public init(_ reason: RejectReason, _ message: String, index: Int? = nil, excerpt: String = "") {
        self.reason = reason
        self.message = message
        self.index = index
        self.excerpt = excerpt
    }

    /// Longest excerpt kept of an offending input.
    public static let excerptLimit = 120

    /// A short, printable excerpt of raw input.
    public static func excerpt(of bytes: some Collection<UInt8>) -> String {
        let text = String(decoding: bytes.prefix(excerptLimit), as: UTF8.self)
        return String(text.unicodeScalars.map { $0.value < 0x20 ? " " : Character($0) })
    }
}
