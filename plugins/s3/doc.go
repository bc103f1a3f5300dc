// Command sluice-plugin-s3 is the S3 connector as a plugin executable: one
// call to serve.Serve. The connector itself is package s3conn, which tests
// and benchmarks also run in-process.
package main
