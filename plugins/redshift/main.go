package main

import (
	"github.com/sluice-dev/sluice/plugins/redshift/redshiftconn"
	"github.com/sluice-dev/sluice/sdk/serve"
)

func main() { serve.Serve(redshiftconn.New()) }
