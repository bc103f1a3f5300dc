// Package pluginhost finds, verifies and starts connector plugins, and
// hands the engine an sdk.Connector for each, whether it runs in a child
// process (the shipped connectors) or in-process (tests, benchmarks).
//
// Start with [Host]: [Host.Open] starts one connector, [Host.Spec] reads a
// connector's spec for the flow loader, [Host.Installed] lists what is
// found. Plugins are executables named sluice-plugin-<name>, looked up at a
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
