//go:build linux

package rpc

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Rings whose creator has died are removed; those of live processes stay.
func TestSweepRemovesOnlyRingsOfDeadProcesses(t *testing.T) {
	if !shmAvailable() {
		t.Skip("no writable /dev/shm on this machine")
	}
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	ring := func(pid int) string {
		name := filepath.Join(shmDir, fmt.Sprintf("sluice-ring-%d-sweeptest", pid))
		if err := os.WriteFile(name, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Remove(name) })
		return name
	}
	dead := ring(gone.Process.Pid)
	mine := ring(os.Getpid())
	parent := ring(os.Getppid())
	sweepRings()
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Errorf("the ring of exited process %d is still there (%v)", gone.Process.Pid, err)
	}
	for _, name := range []string{mine, parent} {
		if _, err := os.Stat(name); err != nil {
			t.Errorf("the ring of a live process was removed: %v", err)
		}
	}
}

func TestRingNamesCarryTheirCreator(t *testing.T) {
	for name, want := range map[string]int{
		"/dev/shm/sluice-ring-4242-123456": 4242,
		"/dev/shm/sluice-ring-123456":      0, // an older sluice's name: left alone
		"/dev/shm/sluice-ring-x-1":         0,
	} {
		pid, ok := ringCreator(name)
		if pid != want || ok != (want != 0) {
			t.Errorf("ringCreator(%q) = %d, %v; want %d", name, pid, ok, want)
		}
	}
}
