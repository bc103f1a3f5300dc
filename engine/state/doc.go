// Package state keeps what the daemon must remember between runs and
// restarts: run history, checkpoints, incremental watermarks and whether
// each flow is active.
//
// [Store] is the interface the daemon and the CLI use; [OpenSQLite] is
// the embedded implementation (pure Go, no cgo), the default;
// [OpenPostgres] is the implementation for several daemons sharing one
// PostgreSQL database. [Open] picks one from a --state value.
package state
