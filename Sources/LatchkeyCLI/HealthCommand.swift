import ArgumentParser
import LatchkeyAPI

struct HealthCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "health", abstract: "Ask the daemon whether it is up.")

    @OptionGroup var client: ClientOptions

    func run() throws {
        do {
            let h = try client.client().health()
            if client.json { try printJSON(h) } else {
                print("\(h.status): latchkey \(h.version), up \(Int(h.uptimeSeconds))s, key generation \(h.keyGeneration)")
            }
        } catch { throw fail(error) }
    }
}
