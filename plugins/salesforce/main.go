// Command sluice-plugin-salesforce is the Salesforce connector: REST and
// Bulk API 2.0 reads, sObject Collections and Bulk 2.0 ingest writes.
package main

import (
	"github.com/sluice-dev/sluice/plugins/salesforce/sfconn"
	"github.com/sluice-dev/sluice/sdk/serve"
)

func main() { serve.Serve(sfconn.New()) }
