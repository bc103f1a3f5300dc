// Command file is the file connector plugin; the engine starts it and
// talks to it over the plugin protocol.
package main

import (
	"github.com/sluice-dev/sluice/plugins/file/fileconn"
	"github.com/sluice-dev/sluice/sdk/serve"
)

func main() { serve.Serve(fileconn.New()) }
