// Package serve is a connector plugin's main function: one call to [Serve]
// hands the connector to the engine over go-plugin.
//
// Plugins log with log/slog; Serve points the default logger at stderr in
// the JSON shape go-plugin's host parses, so each line reaches sluice's log
// under the plugin's name and level. Stdout belongs to the handshake and
// must not be written to. To run a connector in-process instead (tests,
// benchmarks), skip this package and hand the sdk.Connector to the engine.
package serve
