// Command sluice is the CLI and daemon: it wires package dsl (flow files),
// package engine (runs) and engine/pluginhost (connector plugins) together.
// Commands parse arguments, call that logic and render the result; nothing
// here decides how data moves.
//
// Start at main.go for the command tree and exit codes; each command lives
// in its own cmd_*.go file.
package main
