// Package rpc carries the sdk's Go-native connector interfaces across a
// process boundary: protocol v1 (package sdk/protocol/sluicev1) over
// go-plugin's gRPC connection.
//
// Start with [NewServer] (plugin side: wraps an sdk.Connector as a gRPC
// service) and [Client] (host side: implements every sdk role interface by
// calling the plugin). [Handshake] and [Plugin] are the go-plugin glue that
// sdk/serve and the engine's plugin host share.
//
// Record batches cross as one Arrow IPC stream per gRPC stream: the schema
// message once, then one data message per batch, so nothing is re-encoded
// per batch and the receiver wraps the bytes without copying. Batches over
// the row or byte caps are sliced (zero-copy) before sending, never dropped.
//
// Plugin authors do not import this package; they call serve.Serve.
package rpc
