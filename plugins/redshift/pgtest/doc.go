// Package pgtest starts a throwaway PostgreSQL cluster for tests, from the
// server binaries installed on the machine (initdb, pg_ctl, postgres: on
// the PATH, else in /usr/lib/postgresql/*/bin, as Debian's postgresql
// package installs them).
//
// One cluster serves a whole test binary: call [Main] from TestMain, then
// [NewDatabase] in each test for a fresh database that is dropped when the
// test ends. The cluster listens on 127.0.0.1 on a free port and on a unix
// socket in its own temporary directory, runs with fsync off, and is
// stopped (pg_ctl stop -m fast) and deleted when the binary's tests end.
//
// PostgreSQL refuses to run as root. When the tests run as root, as CI
// does, every server command runs as the postgres system user through
// runuser, on a directory chowned to that user.
//
// Without the binaries, tests that ask for a database skip with the
// message "install PostgreSQL server binaries: apt-get install -y
// postgresql" — or fail with it when CI=true, so CI never passes by
// skipping.
package pgtest
