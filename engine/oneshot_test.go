package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/engine"
	"github.com/sluice-dev/sluice/engine/pluginhost"
	"github.com/sluice-dev/sluice/plugins/file/fileconn"
	"github.com/sluice-dev/sluice/sdk"
)

// oneShotEnv makes the test binary run the boundary flow once, the way a
// one-shot `sluice run` does: in a new process, with a new heap, and (in
// mode "plugin") a new plugin process. It prints a oneShotResult.
const oneShotEnv = "SLUICE_BOUNDARY_ONESHOT"

type oneShotResult struct {
	Wall, CPU time.Duration
}

// oneShot runs the boundary flow in a child process of this test binary
// and returns what it measured.
func oneShot(b *testing.B, mode, in, out string, rows int) oneShotResult {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), oneShotEnv+"="+mode, "SLUICE_BOUNDARY_IN="+in, "SLUICE_BOUNDARY_OUT="+out,
		"SLUICE_BOUNDARY_ROWS="+strconv.Itoa(rows), "SLUICE_BOUNDARY_PLUGINS="+pluginDir)
	stdout, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		b.Fatalf("one-shot %s run: %v\n%s", mode, err, stderr)
	}
	var res oneShotResult
	if err := json.Unmarshal(stdout, &res); err != nil {
		b.Fatalf("one-shot %s run printed %q: %v", mode, stdout, err)
	}
	os.RemoveAll(out)
	return res
}

// runOneShot is the child's side: prepare (starting the plugin, not
// timed, as in the benchmark's other modes), run once, print the wall
// and CPU time of the run, this process and the plugin's together.
func runOneShot(mode string) int {
	rows, _ := strconv.Atoi(os.Getenv("SLUICE_BOUNDARY_ROWS"))
	host := &pluginhost.Host{SearchPath: []string{os.Getenv("SLUICE_BOUNDARY_PLUGINS")}, AllowUnlocked: true}
	defer host.Close()
	if mode == "inproc" {
		host.RegisterInProcess("file", func() sdk.Connector { return fileconn.New() })
	}
	flow := benchFlow(os.Getenv("SLUICE_BOUNDARY_IN"), os.Getenv("SLUICE_BOUNDARY_OUT"))
	p, diags := engine.Prepare(context.Background(), flow, engine.Options{Host: host})
	if diags.HasErrors() {
		fmt.Fprintln(os.Stderr, diags.Error())
		return 1
	}
	cpu0, _ := processCPU()
	start := time.Now()
	res := p.Run(context.Background(), engine.RunOptions{})
	wall := time.Since(start)
	cpu1, _ := processCPU()
	if res.Err != nil || res.Stats.RecordsRead != int64(rows) {
		fmt.Fprintf(os.Stderr, "run: %v, %d rows read of %d\n", res.Err, res.Stats.RecordsRead, rows)
		return 1
	}
	out, _ := json.Marshal(oneShotResult{Wall: wall, CPU: cpu1 - cpu0})
	fmt.Println(string(out))
	return 0
}
