// Command sluice-plugin-redshift is the Redshift connector as a plugin
// executable: one call to serve.Serve. The connector itself is package
// redshiftconn, which tests and benchmarks also run in-process.
package main
