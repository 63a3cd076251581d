package import LatchkeyStore
package import LatchkeyCrypto

extension APIError {
    /// A store refusal as the client sees it. Faults that are not the client's become
    /// nil (the caller answers 500 and logs).
    init?(_ error: StoreError) {
        switch error {
        case .notFound: self = APIError(.notFound, error.description)
        case .conflict: self = APIError(.conflict, error.description)
        case .invalid: self = APIError(.invalid, error.description)
        case .unavailable: self = APIError(.storeUnavailable, error.description)
        // A row changed outside Latchkey: refused, never acted on (not a daemon fault).
        case .bindingFailed: self = APIError(.bindingFailed, error.description)
        default: return nil
        }
    }

    /// Maps any error a route meets: refusals pass through, store refusals are
    /// translated; anything else is nil (an internal fault).
    static func from(_ error: any Error) -> APIError? {
        if let e = error as? APIError { return e }
        if let e = error as? StoreError { return APIError(e) }
        // The database could not be reached or kept refusing the transaction (PostgreSQL
        // down, a connection dropped, conflicts past the retries): fail closed with 503,
        // as the audit writer does, rather than an internal fault; the next call retries.
        if let e = error as? SQLError, e.kind == .unavailable || e.kind == .serialization {
            return APIError(.storeUnavailable, "the store cannot be used right now: \(e.message); try again")
        }
        return nil
    }
}
