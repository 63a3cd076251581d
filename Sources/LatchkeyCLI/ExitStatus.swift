import ArgumentParser
import LatchkeyAudit
import LatchkeyClient
import LatchkeyCrypto
import LatchkeyStore
import LatchkeyServer
import Foundation

/// sysexits.h codes the CLI uses.
enum ExitStatus: Int32 {
    case usage = 64, dataError = 65, noInput = 66, unavailable = 69, software = 70
    case cantCreate = 73, ioError = 74, noPermission = 77, config = 78
}

/// Prints `latchkey: <message>` to stderr and maps the error to a sysexits code.
func fail(_ error: any Error) -> ExitCode {
    if let e = error as? ExitCode { return e }
    if error is CancellationError { return ExitCode(0) }
    printError("\(error)")
    return ExitCode(exitStatus(for: error).rawValue)
}

func printError(_ message: String) {
    FileHandle.standardError.write(Data("latchkey: \(message)\n".utf8))
}

func exitStatus(for error: any Error) -> ExitStatus {
    switch error {
    case let e as ClientError:
        switch e {
        case .unreachable: return .unavailable
        case .protocolError: return .software
        case .api(let status, _, _):
            switch status {
            case 401, 403: return .noPermission
            case 503: return .unavailable
            case 400, 404, 409, 413, 422: return .dataError
            default: return .software
            }
        }
    case let e as StoreError:
        switch e {
        case .directoryExposed: return .noPermission
        case .wrongMasterKey, .wrongKeySource: return .noPermission
        case .notInitialized: return .noInput
        case .alreadyInitialized: return .cantCreate
        case .newerSchema, .corrupt, .damagedBackup, .bindingFailed: return .dataError
        case .locked: return .software
        case .unavailable, .directoryUnusable: return .ioError
        case .notFound: return .noInput
        case .conflict, .invalid: return .dataError
        }
    case let e as KeyFile.Failure:
        switch e {
        case .exposed, .wrongOwner: return .noPermission
        case .notAFile: return .dataError
        case .missing: return .noInput
        case .exists: return .cantCreate
        case .wrongSize, .unreadable: return .dataError
        }
    case is SocketServer.Failure: return .unavailable
    case is CryptoError: return .dataError
    case is InputError: return .dataError
    case is CheckpointLine.Failure: return .dataError
    default: return .software
    }
}

/// Bad input given to the CLI itself (stdin, files).
struct InputError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}
