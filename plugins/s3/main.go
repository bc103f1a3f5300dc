// Command s3 is the S3 connector plugin; the engine starts it and talks to
// it over the plugin protocol.
package main

import (
	"github.com/sluice-dev/sluice/plugins/s3/s3conn"
	"github.com/sluice-dev/sluice/sdk/serve"
)

func main() { serve.Serve(s3conn.New()) }
