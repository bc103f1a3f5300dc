// Package daemon runs flows all day: `sluice serve`. It loads every flow
// of a directory, runs schedule triggers from one scheduler goroutine (a
// timer heap, not a goroutine per flow), never overlaps two runs of one
// flow, records every run in a [state.Store], reloads the directory when
// it changes (a file that stops validating keeps its last good version),
// serves a JSON API with Prometheus metrics, and drains on shutdown.
//
// It does not know the flow language: the CLI supplies a [Loader] that
// turns a directory into a plan.Config and a [Runner] that prepares and
// runs one flow.
package daemon
