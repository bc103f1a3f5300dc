package pluginhost

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/go-plugin"

	"github.com/sluice-dev/sluice/sdk/rpc"
)

// Pool defaults.
const (
	DefaultPoolIdle   = 5 * time.Minute
	DefaultPoolPerKey = 2
)

// Pool keeps plugin processes running between runs, for a daemon whose
// flows run again and again. A run that finds its connector waiting skips
// starting the process, verifying its checksum and the handshake, and runs
// on a heap and shared-memory rings the earlier run already faulted in: in
// BenchmarkPluginBoundary the plugin flow uses about a tenth less CPU than
// with a fresh process per run.
//
// A process is kept only for the same executable (same file, unchanged
// since it was started), the same lock entry and the same connection
// configuration, and is configured again before each use, so a run cannot
// tell it from a new one and one connection's plugin never serves another.
// A process whose run saw it fail, crash or hang is stopped instead.
//
// Several hosts may share one pool; the daemon gives each run its own host
// (so a changed lock file applies to the next run) and one pool to all.
type Pool struct {
	// Idle is how long a process waits for its next run before it is
	// stopped; zero means DefaultPoolIdle.
	Idle time.Duration
	// PerKey bounds the waiting processes of one executable and
	// connection; zero means DefaultPoolPerKey.
	PerKey int

	mu     sync.Mutex
	idle   map[string][]*process
	closed bool
}

// process is one running plugin executable.
type process struct {
	name   string
	client *plugin.Client
	conn   *rpc.Client
	// key says which later uses may share the process; "" means none.
	key string
	// exe is the executable file as it was when the process started.
	exe   os.FileInfo
	timer *time.Timer
}

// stop ends the process and lets go of the shared memory the engine kept
// for its streams.
func (p *process) stop() {
	p.client.Kill()
	if p.conn != nil {
		p.conn.Close()
	}
}

// take hands out a waiting process for key started from the file exe
// is, or nil.
func (pl *Pool) take(key string, exe os.FileInfo) *process {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	for list := pl.idle[key]; len(list) > 0; list = pl.idle[key] {
		// The most recently used process has the warmest heap.
		p := list[len(list)-1]
		pl.idle[key] = list[:len(list)-1]
		if !p.timer.Stop() {
			continue // its idle time ran out: the timer is stopping it
		}
		if p.client.Exited() || !os.SameFile(p.exe, exe) {
			// Stopping an exited process reaps it and logs why it went.
			go p.stop()
			continue
		}
		return p
	}
	return nil
}

// put keeps p for the next use of its key, or stops it when the pool is
// closed or full.
func (pl *Pool) put(p *process) {
	pl.mu.Lock()
	perKey := pl.PerKey
	if perKey <= 0 {
		perKey = DefaultPoolPerKey
	}
	if pl.closed || len(pl.idle[p.key]) >= perKey || p.client.Exited() {
		pl.mu.Unlock()
		p.stop()
		return
	}
	idle := pl.Idle
	if idle <= 0 {
		idle = DefaultPoolIdle
	}
	if pl.idle == nil {
		pl.idle = map[string][]*process{}
	}
	pl.idle[p.key] = append(pl.idle[p.key], p)
	p.timer = time.AfterFunc(idle, func() { pl.expire(p) })
	pl.mu.Unlock()
}

// expire stops p if it is still waiting.
func (pl *Pool) expire(p *process) {
	pl.mu.Lock()
	list := pl.idle[p.key]
	for i, q := range list {
		if q == p {
			pl.idle[p.key] = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	if len(pl.idle[p.key]) == 0 {
		delete(pl.idle, p.key)
	}
	pl.mu.Unlock()
	p.stop()
}

// Waiting is how many processes wait in the pool.
func (pl *Pool) Waiting() int {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	n := 0
	for _, list := range pl.idle {
		n += len(list)
	}
	return n
}

// Close stops every waiting process; processes given back later stop too.
func (pl *Pool) Close() {
	pl.mu.Lock()
	pl.closed = true
	var waiting []*process
	for _, list := range pl.idle {
		for _, p := range list {
			if p.timer.Stop() {
				waiting = append(waiting, p)
			}
		}
	}
	pl.idle = nil
	pl.mu.Unlock()
	stopAll(waiting)
}

func stopAll(procs []*process) {
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Add(1)
		go func() { defer wg.Done(); p.stop() }()
	}
	wg.Wait()
}

// poolKey says which processes a use of connector name from the
// executable exe at path with config may share: the executable as it is on
// disk now (take also checks it is the same file), the lock entry that
// admitted it, and a digest of the configuration (never the values
// themselves, which hold secrets). It is "" when the use may not share
// because the configuration cannot be encoded.
func (h *Host) poolKey(name, path string, exe os.FileInfo, config map[string]any) string {
	// A rebuilt executable has another size or modification time.
	identity := fmt.Sprintf("%d:%d", exe.Size(), exe.ModTime().UnixNano())
	trust := "unlocked"
	if !h.AllowUnlocked {
		if h.Lock == nil {
			return ""
		}
		trust = h.Lock.Plugins[name].SHA256
	}
	// encoding/json writes map keys sorted, so equal configurations encode
	// equally.
	encoded, err := json.Marshal(config)
	if err != nil {
		return ""
	}
	// Keyed with a secret of this process, so the digest of a short
	// password cannot be tried against guesses should a key ever show.
	mac := hmac.New(sha256.New, configKeySecret[:])
	mac.Write(encoded)
	return name + "\x00" + path + "\x00" + identity + "\x00" + trust + "\x00" + hex.EncodeToString(mac.Sum(nil))
}

var configKeySecret = func() (k [32]byte) {
	_, _ = rand.Read(k[:]) // crypto/rand never fails on the platforms Go supports
	return k
}()
