// Command sluice-plugin-redshift is the Redshift connector as a plugin
// executable: one call to serve.Serve. The connector itself is package
// redshiftconn, which tests and benchmarks also run in-process.
package main

import (
	"github.com/sluice-dev/sluice/plugins/redshift/redshiftconn"
	"github.com/sluice-dev/sluice/sdk/serve"
)

func main() { serve.Serve(redshiftconn.New()) }
