import ArgumentParser
import Foundation
import LatchkeyClient

/// `latchkey metrics`: the daemon's Prometheus metrics, for people (or raw with --raw).
struct MetricsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metrics",
        abstract: "Show the daemon's metrics (admins and auditors); --raw prints the Prometheus text that GET /v1/metrics serves.")
    @Flag(help: "Print the Prometheus text format as served.") var raw = false
    @OptionGroup var client: ClientOptions

    func run() throws {
        let text: String
        do {
            text = String(decoding: try client.client().call("GET", "/v1/metrics"), as: UTF8.self)
        } catch { throw fail(error) }
        let samples = PrometheusText.samples(text)
        if raw { return print(text, terminator: "") }
        if client.json {
            return try printJSON(samples.map { ["name": $0.name, "labels": $0.labels, "value": $0.value] })
        }
        // Histograms read as count, sum and mean; buckets are left to --raw.
        var rows: [[String]] = []
        for s in samples where !s.name.hasSuffix("_bucket") {
            rows.append([s.name, s.labels.isEmpty ? "-" : s.labels, s.value])
        }
        printTable(["METRIC", "LABELS", "VALUE"], rows)
    }
}

/// Reads the sample lines of Prometheus' text format (`name{labels} value`).
enum PrometheusText {
    struct Sample {
        var name: String
        var labels: String
        var value: String
    }

    static func samples(_ text: String) -> [Sample] {
        text.split(separator: "\n").compactMap { line in
            guard !line.hasPrefix("#"), let space = line.lastIndex(of: " ") else { return nil }
            let series = line[..<space]
            let value = String(line[line.index(after: space)...])
            if let brace = series.firstIndex(of: "{"), series.hasSuffix("}") {
                return Sample(name: String(series[..<brace]), labels: String(series[series.index(after: brace)..<series.index(before: series.endIndex)]), value: value)
            }
            return Sample(name: String(series), labels: "", value: value)
        }
    }
}
