// Package pluginhost finds, verifies and starts connector plugins, and
// hands the engine an sdk.Connector for each, whether it runs in a child
// process (the shipped connectors) or in-process (tests, benchmarks).
//
// Start with [Host]: [Host.Acquire] starts and configures a connector for a
// run and [Host.Release] gives it back, [Host.Open] starts one for a
// command, [Host.Spec] reads a connector's spec for the flow loader,
// [Host.Installed] lists what is found. A [Pool] shared by hosts keeps
// released plugin processes running for the next run of the same
// connection; `sluice serve` uses one. Plugins are executables named sluice-plugin-<name>, looked up at a
// path the flow names, then next to the sluice binary, then in each
// directory of $SLUICE_PLUGIN_PATH.
//
// An executable is started only if its SHA-256 matches the lock file
// (sluice.lock.hcl, written by `sluice plugins lock`), as Terraform does
// for providers: a plugin runs with the engine's credentials and data, so
// swapping the binary on disk must not silently change what runs. The
// AllowUnlocked switch (the CLI's --dev-plugins flag) lifts this for plugin
// development.
//
// The wire protocol itself lives in sdk/rpc; running flows is package
// engine's job.
package pluginhost
