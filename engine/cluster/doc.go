// Package cluster lets several `sluice serve` daemons that share one
// PostgreSQL state store work as one cluster, with no other coordination
// service.
//
// Runs are jobs in River (github.com/riverqueue/river), a job queue kept in
// the same PostgreSQL: a schedule's tick is inserted once cluster-wide (a
// unique job per flow and tick, however many daemons see the tick), any
// daemon's workers take it, and a daemon that dies leaves its jobs to
// River's rescuer, which makes them available again once the lease
// (RescueStuckJobsAfter) has passed. Large runs are split into partition
// jobs, so any daemon can take a part and a failed part is retried alone.
// Who owns what right now is decided by PostgreSQL session advisory locks
// held on one connection per daemon: the owner of a run, a partition or an
// event flow's subscription holds its lock, a second taker (a job rescued
// while its first attempt still runs) sees it held and waits, and the locks
// of a daemon that dies go with its connection.
//
// Start at Open and Cluster.Start; the daemon (engine/daemon) implements
// Handler. A single daemon on SQLite does not use this package: its
// in-process scheduler (engine/daemon) is all it needs.
package cluster
