// Command sluice-plugin-file is the file connector as a plugin executable:
// one call to serve.Serve. The connector itself is package fileconn, which
// tests and benchmarks also run in-process.
package main
