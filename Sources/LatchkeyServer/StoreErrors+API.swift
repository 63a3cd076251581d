import LatchkeyStore
import LatchkeyCrypto

extension APIError {
    /// A store refusal as the client sees it. Faults that are not the client's become
    /// nil (the caller answers 500 and logs).
    init?(_ error: StoreError) {
        switch error {
        case .notFound: self = APIError(status: 404, code: error.code, error.description)
        case .conflict: self = APIError(status: 409, code: error.code, error.description)
        case .invalid: self = APIError(status: 400, code: error.code, error.description)
        case .unavailable: self = APIError(status: 503, code: error.code, error.description)
        // A row changed outside Latchkey: refused, never acted on (not a daemon fault).
        case .bindingFailed: self = APIError(status: 500, code: error.code, error.description)
        default: return nil
        }
    }

    /// Maps any error a route meets: refusals pass through, store refusals are
    /// translated, crypto failures on client-supplied blobs are 400.
    static func from(_ error: any Error) -> APIError? {
        if let e = error as? APIError { return e }
        if let e = error as? StoreError { return APIError(e) }
        return nil
    }
}
