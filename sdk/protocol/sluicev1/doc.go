// Package sluicev1 is the generated code of plugin protocol v1
// (plugin.proto beside it; `make generate` regenerates it). The major
// version is part of the package name so a v2 can live beside it.
//
// Nothing here is part of the SDK's API: plugin authors use package sdk's
// Go types, and sdk/rpc translates between the two.
package sluicev1
