package engine_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/sluice-dev/sluice/engine/pluginhost"
	"github.com/sluice-dev/sluice/sdk"
)

// orphanHostEnv makes the test binary a plugin host that starts the fault
// plugin from the directory it names, prints the plugin's pid and waits
// to be killed.
const orphanHostEnv = "SLUICE_TEST_ORPHAN_HOST"

func hostUntilKilled(dir string) int {
	host := &pluginhost.Host{SearchPath: []string{dir}, AllowUnlocked: true}
	conn, err := host.Open(context.Background(), "fault", "")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ent, err := conn.(sdk.EntityDescriber).DescribeEntity(context.Background(), sdk.DescribeRequest{Entity: "pid"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(ent.Name)
	select {}
}

// A plugin whose engine was killed (no Shutdown call, no chance to stop
// it) exits by itself: a daemon keeps plugins between runs, and they must
// not outlive it.
func TestPluginExitsWhenItsEngineIsKilled(t *testing.T) {
	faultPlugin(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), orphanHostEnv+"="+pluginDir, "SLUICE_FAULT_MODE=")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		t.Fatalf("the host printed no plugin pid: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("the host printed %q", line)
	}
	if !alive(pid) {
		t.Fatalf("plugin %d is not running while its host is", pid)
	}
	cmd.Process.Kill()
	cmd.Wait()
	waitGone(t, pid)
}
