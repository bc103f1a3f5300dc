package main

import (
	"github.com/sluice-dev/sluice/plugins/salesforce/sfconn"
	"github.com/sluice-dev/sluice/sdk/serve"
)

func main() { serve.Serve(sfconn.New()) }
