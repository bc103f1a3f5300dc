package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/sluice-dev/sluice/sdk"
	"github.com/sluice-dev/sluice/sdk/rpc"
)

// ExecutablePrefix starts every plugin executable's name.
const ExecutablePrefix = "sluice-plugin-"

// ErrNotFound is returned when no executable provides a connector.
var ErrNotFound = errors.New("plugin not found")

// Host starts and tracks connector plugins.
type Host struct {
	// Logger receives plugin logs, one sub-logger per plugin name.
	Logger hclog.Logger
	// SearchPath lists directories to look for plugins in, in order.
	SearchPath []string
	// Lock pins plugin checksums; nil means an empty lock.
	Lock *LockFile
	// AllowUnlocked starts plugins that are not (or differently) locked.
	AllowUnlocked bool
	// IdleTimeout bounds the silence of a plugin stream (0: rpc default).
	IdleTimeout time.Duration
	// Pool, when set, keeps the processes given back with Release running
	// for later Acquires, of this host or another sharing the pool.
	Pool *Pool

	mu        sync.Mutex
	inProcess map[string]func() sdk.Connector
	procs     []*process // started or taken from the pool, not yet given back
	specs     map[string]sdk.Spec
	spare     map[string]*process // started by Spec, by path; still in procs
}

// DefaultSearchPath is the directory of the running executable, then each
// entry of $SLUICE_PLUGIN_PATH.
func DefaultSearchPath() []string {
	var dirs []string
	if exe, err := os.Executable(); err == nil {
		if resolved, err := filepath.EvalSymlinks(exe); err == nil {
			exe = resolved
		}
		dirs = append(dirs, filepath.Dir(exe))
	}
	for _, d := range filepath.SplitList(os.Getenv("SLUICE_PLUGIN_PATH")) {
		if d != "" {
			dirs = append(dirs, d)
		}
	}
	return dirs
}

// RegisterInProcess makes name resolve to a connector in this process
// instead of an executable. Tests and benchmarks use it to measure the
// plugin boundary against the same connector without it.
func (h *Host) RegisterInProcess(name string, factory func() sdk.Connector) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.inProcess == nil {
		h.inProcess = map[string]func() sdk.Connector{}
	}
	h.inProcess[name] = factory
}

func (h *Host) logger() hclog.Logger {
	if h.Logger == nil {
		return hclog.NewNullLogger()
	}
	return h.Logger
}

// Find returns the executable for connector name. explicit, when set, is
// a path a flow file gave and is used as is.
func (h *Host) Find(name, explicit string) (string, error) {
	if explicit != "" {
		info, err := os.Stat(explicit)
		if err != nil {
			return "", fmt.Errorf("%w: %s connector at %s: %w", ErrNotFound, name, explicit, err)
		}
		if info.IsDir() || info.Mode()&0o111 == 0 {
			return "", fmt.Errorf("%w: %s connector at %s is not an executable file", ErrNotFound, name, explicit)
		}
		return explicit, nil
	}
	exe := ExecutablePrefix + name
	for _, dir := range h.SearchPath {
		p := filepath.Join(dir, exe)
		if info, err := os.Stat(p); err == nil && !info.IsDir() && info.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: no executable %q for the %s connector in %s; build it (make build) or add its directory to SLUICE_PLUGIN_PATH",
		ErrNotFound, exe, name, strings.Join(h.SearchPath, ", "))
}

// Installed is one plugin found on the search path.
type Installed struct {
	Name   string
	Path   string
	SHA256 string
	Locked bool
}

// Installed lists the plugins on the search path; the first of a name wins.
func (h *Host) Installed() ([]Installed, error) {
	seen := map[string]bool{}
	var out []Installed
	for _, dir := range h.SearchPath {
		entries, err := os.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("list plugins in %s: %w", dir, err)
		}
		for _, e := range entries {
			name, ok := strings.CutPrefix(e.Name(), ExecutablePrefix)
			if !ok || e.IsDir() || seen[name] {
				continue
			}
			p := filepath.Join(dir, e.Name())
			info, err := e.Info()
			if err != nil || info.Mode()&0o111 == 0 {
				continue
			}
			seen[name] = true
			sum, err := FileSHA256(p)
			if err != nil {
				return nil, err
			}
			locked := false
			if h.Lock != nil {
				locked = strings.EqualFold(h.Lock.Plugins[name].SHA256, sum)
			}
			out = append(out, Installed{Name: name, Path: p, SHA256: sum, Locked: locked})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Open starts connector name and returns it, not yet configured. The
// connector lives until Close.
func (h *Host) Open(ctx context.Context, name, explicit string) (sdk.Connector, error) {
	if factory := h.inProcessFactory(name, explicit); factory != nil {
		return factory(), nil
	}
	path, err := h.Find(name, explicit)
	if err != nil {
		return nil, err
	}
	p, err := h.launch(ctx, name, path, false)
	if err != nil {
		return nil, err
	}
	return p.conn, nil
}

func (h *Host) inProcessFactory(name, explicit string) func() sdk.Connector {
	if explicit != "" {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.inProcess[name]
}

// Acquire returns connector name configured with config, for one run:
// a process from the pool when one started earlier for the same executable,
// lock entry and configuration waits there, else a new one. Configure runs
// either way, so a reused process holds exactly the configuration it is
// given, as a new one would. Give the connector back with Release when the
// run is over; until then it lives at most until Close.
func (h *Host) Acquire(ctx context.Context, name, explicit string, config sdk.Values) (sdk.Connector, sdk.Diagnostics, error) {
	if factory := h.inProcessFactory(name, explicit); factory != nil {
		conn := factory()
		return conn, conn.Configure(ctx, config), nil
	}
	path, err := h.Find(name, explicit)
	if err != nil {
		return nil, nil, err
	}
	var key string
	exe, err := os.Stat(path)
	if err == nil && h.Pool != nil {
		key = h.poolKey(name, path, exe, config)
	}
	if key != "" {
		if p := h.Pool.take(key, exe); p != nil {
			h.mu.Lock()
			h.procs = append(h.procs, p)
			h.mu.Unlock()
			diags := p.conn.Configure(ctx, config)
			if !diags.HasErrors() || !p.client.Exited() {
				return p.conn, diags, nil
			}
			// It died while it waited: the run gets a new one.
			h.Release(p.conn, false)
		}
	}
	p := h.takeSpare(path, exe)
	if p == nil {
		if p, err = h.launch(ctx, name, path, false); err != nil {
			return nil, nil, err
		}
	}
	p.key = key
	return p.conn, p.conn.Configure(ctx, config), nil
}

// Release gives back a connector Acquire returned, once its run is over.
// reusable says the run saw nothing wrong with the plugin (no crash, no
// silence, no broken stream); the process then waits in the pool, if the
// host has one, for the next run of the same connection. Otherwise it
// stops. In-process connectors have nothing to give back.
func (h *Host) Release(conn sdk.Connector, reusable bool) {
	h.mu.Lock()
	var p *process
	for i, q := range h.procs {
		if sdk.Connector(q.conn) == conn {
			p = q
			h.procs = append(h.procs[:i:i], h.procs[i+1:]...)
			break
		}
	}
	h.mu.Unlock()
	switch {
	case p == nil:
	case reusable && p.key != "" && h.Pool != nil:
		h.Pool.put(p)
	default:
		p.stop()
	}
}

// launch starts the executable at path. Unless unlocked runs are allowed
// (or trust is being established by `plugins lock`), its checksum must match
// the lock file, and go-plugin checks it again right before exec.
func (h *Host) launch(ctx context.Context, name, path string, trust bool) (*process, error) {
	if !h.AllowUnlocked && !trust {
		lock := h.Lock
		if lock == nil {
			lock = &LockFile{Plugins: map[string]LockedPlugin{}}
		}
		// This is the check go-plugin's SecureConfig makes, with a message
		// that says what to do; running both would hash the file twice.
		if err := lock.verify(name, path); err != nil {
			return nil, err
		}
	}
	// What the pool later compares the file on disk with.
	exe, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("start plugin %s: %w", name, err)
	}
	logger := h.logger().Named(name)
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  rpc.Handshake,
		VersionedPlugins: rpc.VersionedPlugins(nil),
		Cmd:              exec.Command(path),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           logger,
		GRPCDialOptions:  rpc.DialOptions(),
		StartTimeout:     30 * time.Second,
		Managed:          true,
	})
	p := &process{name: name, client: client, exe: exe}
	h.mu.Lock()
	h.procs = append(h.procs, p)
	h.mu.Unlock()
	conn, err := client.Client()
	if err != nil {
		return nil, fmt.Errorf("start plugin %s (%s): %w", name, path, err)
	}
	if v := client.NegotiatedVersion(); v != rpc.ProtocolVersion {
		return nil, fmt.Errorf("plugin %s (%s) speaks protocol version %d; this sluice speaks %d", name, path, v, rpc.ProtocolVersion)
	}
	raw, err := conn.Dispense(rpc.PluginKey)
	if err != nil {
		return nil, fmt.Errorf("start plugin %s (%s): %w", name, path, err)
	}
	c := raw.(*rpc.Client)
	c.Name = name
	c.Exited = client.Exited
	c.IdleTimeout = h.IdleTimeout
	// Shared memory is on unless SLUICE_SHM=0: the flows measured use a
	// tenth less CPU with it, for 16 MiB of shared pages per stream and
	// direction (see rpc.Client.SharedMemory).
	c.SharedMemory = os.Getenv("SLUICE_SHM") != "0"
	spec, err := c.FetchSpec(ctx)
	if err != nil {
		return nil, err
	}
	if spec.Name != name {
		return nil, fmt.Errorf("plugin at %s calls itself %q, but it was started for the %s connector", path, spec.Name, name)
	}
	p.conn = c
	return p, nil
}

// Spec returns connector name's spec, starting it once if needed.
func (h *Host) Spec(ctx context.Context, name, explicit string) (sdk.Spec, error) {
	key := name + "\x00" + explicit
	h.mu.Lock()
	if s, ok := h.specs[key]; ok {
		h.mu.Unlock()
		return s, nil
	}
	h.mu.Unlock()
	if factory := h.inProcessFactory(name, explicit); factory != nil {
		return factory().Spec(), nil
	}
	path, err := h.Find(name, explicit)
	if err != nil {
		return sdk.Spec{}, err
	}
	p, err := h.launch(ctx, name, path, false)
	if err != nil {
		return sdk.Spec{}, err
	}
	spec := p.conn.Spec()
	h.mu.Lock()
	if h.specs == nil {
		h.specs = map[string]sdk.Spec{}
	}
	h.specs[key] = spec
	// The process is not configured yet: the first Acquire of the
	// executable takes it rather than starting another.
	if h.spare == nil {
		h.spare = map[string]*process{}
	}
	if _, ok := h.spare[path]; !ok {
		h.spare[path] = p
	}
	h.mu.Unlock()
	return spec, nil
}

// takeSpare returns the unconfigured process Spec started from the file
// exe is, if it is still there.
func (h *Host) takeSpare(path string, exe os.FileInfo) *process {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.spare[path]
	if p == nil || p.exe == nil || exe == nil || !os.SameFile(p.exe, exe) || p.client.Exited() {
		return nil
	}
	delete(h.spare, path)
	return p
}

// LockInstalled records the installed plugins' checksums in the lock file, starting
// each one to learn its version. This is the step where a user says "I
// trust these executables".
func (h *Host) LockInstalled(ctx context.Context, path string) (*LockFile, error) {
	installed, err := h.Installed()
	if err != nil {
		return nil, err
	}
	lf := &LockFile{Path: path, Plugins: map[string]LockedPlugin{}}
	for _, in := range installed {
		p, err := h.launch(ctx, in.Name, in.Path, true)
		if err != nil {
			return nil, err
		}
		lf.Plugins[in.Name] = LockedPlugin{Name: in.Name, Version: p.conn.Spec().Version, SHA256: in.SHA256}
	}
	return lf, lf.Write()
}

// Close stops every plugin process this host started or took from the
// pool and has not given back.
func (h *Host) Close() {
	h.mu.Lock()
	procs := h.procs
	h.procs = nil
	h.mu.Unlock()
	stopAll(procs)
}
