package daemon

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"time"

	"github.com/sluice-dev/sluice/engine/state"
)

// Event flows have no ticks: the daemon keeps one run of each going, its
// subscription, for as long as the flow is loaded and active. A run that
// fails is started again after a backoff that grows with the consecutive
// failures (which can deactivate the flow, as for schedules); a run that
// was stopped to pick up a new version of the flow, or cancelled by the
// drain, is not counted as a failure.

// maxEventBackoff caps the wait before a failed subscription is retried.
const maxEventBackoff = time.Minute

// followLocked starts e's subscription unless it runs already or must
// not run; d.mu is held.
func (d *Daemon) followLocked(e *flowEntry) {
	if e.flow == nil || e.flow.Trigger.Kind != "event" || !e.active || e.held || d.draining ||
		e.running != nil || d.flows[e.name] != e || d.runCtx == nil {
		return
	}
	if d.opts.Cluster != nil {
		d.pokeOwners() // it subscribes if it becomes the owner
		return
	}
	d.startLocked(e, "event", time.Time{})
}

// afterEventRunLocked decides what follows an event run's end; d.mu is held.
func (d *Daemon) afterEventRunLocked(e *flowEntry, fin *state.Run, failures int) {
	switch {
	case d.draining || !e.active || e.held || d.flows[e.name] != e:
	case fin.Status == state.Failed:
		wait := time.Second << min(max(failures-1, 0), 6)
		wait = min(wait, maxEventBackoff)
		d.log.Warn("event subscription failed; retrying", "flow", e.name, "in", wait.String(), "consecutive_failures", failures)
		timer := d.opts.Clock.NewTimer(wait)
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			defer timer.Stop()
			select {
			case <-timer.C():
			case <-d.drained:
				return
			}
			d.mu.Lock()
			d.followLocked(e)
			d.mu.Unlock()
		}()
	default:
		d.followLocked(e) // stopped for a new version: subscribe again
	}
}

// fileHash is the hex SHA-256 of a file's content, "" when unreadable.
func fileHash(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
