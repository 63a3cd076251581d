import Foundation

/// Runs CPU-heavy work that would block a thread for a long time (RSA key generation:
/// up to seconds for rsa-4096 under load) on a thread of its own, so it holds neither an
/// event loop nor one of Swift's few cooperative threads, which every other request needs.
package func onOwnThread<T: Sendable>(name: String, _ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
        }
        thread.name = name
        thread.start()
    }
}
