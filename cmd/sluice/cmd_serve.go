package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
	_ "time/tzdata" // schedule time zones work without the system's zoneinfo

	"github.com/hashicorp/hcl/v2"
	"github.com/spf13/cobra"

	"github.com/sluice-dev/sluice/dsl"
	"github.com/sluice-dev/sluice/engine"
	"github.com/sluice-dev/sluice/engine/cluster"
	"github.com/sluice-dev/sluice/engine/daemon"
	"github.com/sluice-dev/sluice/engine/plan"
	"github.com/sluice-dev/sluice/engine/pluginhost"
	"github.com/sluice-dev/sluice/engine/state"
	"github.com/sluice-dev/sluice/sdk"
)

func newServeCommand(g *globals) *cobra.Command {
	var flowsDir, statePath, addr, token string
	var drain, lease, warm time.Duration
	var maxFailures, workers int
	var instance string
	c := &cobra.Command{
		Use:   "serve --flows DIR",
		Short: "Run the flows of a directory on their triggers, with an HTTP API and metrics",
		Long: "Load every flow of DIR, run schedule triggers, reload when files change (a file that\n" +
			"stops validating keeps its last good version running), record every run in the state\n" +
			"database, and serve the JSON API (/api/v1, described at /openapi.json), /metrics,\n" +
			"/healthz, /readyz and a run-history page at / (with --token, open it once as\n" +
			"/?token=TOKEN: the browser keeps the token in a cookie). SIGTERM stops new runs and lets running ones finish for\n" +
			"--drain-timeout, then cancels them. Logs are JSON lines on stderr.",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			ctx := c.Context()
			if flowsDir == "" {
				return invalid(errors.New("--flows DIR is required"))
			}
			if info, err := os.Stat(flowsDir); err != nil || !info.IsDir() {
				return invalid(fmt.Errorf("--flows %s: not a directory", flowsDir))
			}
			if err := daemon.CheckListen(addr, token); err != nil {
				return invalid(err)
			}
			log := g.slogger(c)
			store, err := openState(ctx, g, statePath, true)
			if err != nil {
				return failed(err)
			}
			defer store.Close()

			// One pool for the daemon's life: each run's host (new, so a
			// changed lock file applies) takes its plugins from it and gives
			// them back warm.
			if warm > 0 {
				g.pool = &pluginhost.Pool{Idle: warm}
				defer g.pool.Close()
			}
			opts := daemon.Options{
				Dir: flowsDir, Loader: g.daemonLoader(ctx), Store: store, Logger: log,
				Runner:      daemon.EngineRunner(g.daemonPreparer(), filepath.Join(g.stateDir, "dead-letter")),
				MaxFailures: maxFailures, Watch: true,
			}
			if state.IsPostgresURL(statePathOf(g, statePath)) {
				// Daemons sharing a PostgreSQL store are one cluster.
				if instance == "" {
					host, _ := os.Hostname()
					instance = fmt.Sprintf("%s-%d", host, os.Getpid())
				}
				cl, err := cluster.Open(ctx, cluster.Options{DSN: statePathOf(g, statePath), ID: instance,
					Lease: lease, Workers: workers, Logger: log})
				if err != nil {
					return failed(fmt.Errorf("join the cluster on %s: %w", state.Redact(statePathOf(g, statePath)), err))
				}
				opts.Cluster = cl
				opts.Partitioner = g.daemonPartitioner()
			}
			d := daemon.New(opts)
			if err := d.Start(ctx); err != nil {
				return failed(err)
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				_ = d.Shutdown(context.Background())
				return failed(err)
			}
			srv := &http.Server{Handler: d.Handler(token), ReadHeaderTimeout: 10 * time.Second}
			go func() {
				if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
					log.Error("http server", "err", err)
				}
			}()
			log.Info("serving", "addr", "http://"+ln.Addr().String(), "flows", flowsDir, "state", state.Redact(statePathOf(g, statePath)),
				"flows_loaded", len(d.Flows()))

			<-ctx.Done()
			log.Info("shutting down: no new runs; draining", "deadline", drain.String())
			dctx, cancel := context.WithTimeout(context.Background(), drain)
			defer cancel()
			derr := d.Shutdown(dctx)
			sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer scancel()
			_ = srv.Shutdown(sctx)
			if derr != nil {
				log.Error("shutdown", "err", derr)
				return failed(derr)
			}
			log.Info("stopped")
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&flowsDir, "flows", "", "directory of flow files to serve")
	f.StringVar(&statePath, "state", os.Getenv("SLUICE_STATE"), "state database: a SQLite file (default <state-dir>/sluice.db), or postgres://user:password@host:port/db for one several daemons share; also $SLUICE_STATE")
	f.StringVar(&addr, "addr", envOr("SLUICE_ADDR", "127.0.0.1:8080"), "address the API listens on")
	f.StringVar(&token, "token", os.Getenv("SLUICE_TOKEN"), "bearer token the API requires (required off loopback); also $SLUICE_TOKEN")
	f.DurationVar(&drain, "drain-timeout", 30*time.Second, "on SIGTERM, how long running runs may go on before they are cancelled")
	f.StringVar(&instance, "instance", os.Getenv("SLUICE_INSTANCE"), "with a PostgreSQL state: this daemon's name in the cluster (default host-pid); also $SLUICE_INSTANCE")
	f.DurationVar(&lease, "lease", time.Minute, "with a PostgreSQL state: how long a daemon cut off from PostgreSQL keeps its runs before the others take them over (a killed daemon's are taken over within seconds)")
	f.IntVar(&workers, "workers", 4, "with a PostgreSQL state: how many runs and run parts this daemon works at once")
	f.DurationVar(&warm, "plugin-keep-warm", pluginhost.DefaultPoolIdle, "keep a plugin process running this long after a run, for the next run of the same connection (0: a new process per run)")
	f.IntVar(&maxFailures, "max-failures", 0, "deactivate a flow after this many consecutive failed runs (0: never), unless its trigger sets max_failures")
	addVarFlags(c, g)
	return c
}

// slogger is the daemon's structured logger: JSON lines on stderr, at info
// unless --log-level says otherwise.
func (g *globals) slogger(c *cobra.Command) *slog.Logger {
	level := slog.LevelInfo
	if c.Flags().Changed("log-level") || os.Getenv("SLUICE_LOG_LEVEL") != "" {
		switch strings.ToLower(g.logLevel) {
		case "trace", "debug":
			level = slog.LevelDebug
		case "warn":
			level = slog.LevelWarn
		case "error":
			level = slog.LevelError
		}
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// daemonLoader loads a flow directory and checks every flow the way
// `sluice validate` does, formulas included, so a flow that would fail to
// prepare keeps its last good version.
func (g *globals) daemonLoader(ctx context.Context) daemon.Loader {
	return func(dir string) (*plan.Config, hcl.Diagnostics) {
		host, err := g.host()
		if err != nil {
			return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot start plugins", Detail: err.Error()}}
		}
		defer host.Close()
		vars, err := parseVars(g.vars)
		if err != nil {
			return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid variables", Detail: err.Error()}}
		}
		cfg, diags, _ := dsl.Load(dir, dsl.LoadOptions{Vars: vars, VarFiles: g.varFiles,
			Specs: specLookup(ctx, host), PluginSpecs: pluginSpecLookup(ctx, host)})
		bad := map[string]bool{}
		for _, d := range diags {
			if d.Severity == hcl.DiagError && d.Subject != nil {
				bad[d.Subject.Filename] = true
			}
		}
		for _, f := range cfg.Flows {
			if bad[f.File] {
				continue
			}
			// Preparing starts the flow's plugins: given back, they wait in
			// the pool for the flow's first run.
			p, ds := engine.Prepare(ctx, f, engine.Options{Host: host})
			if p != nil {
				p.Close()
			}
			diags = append(diags, ds...)
		}
		return cfg, diags
	}
}

// daemonPartitioner asks a flow's source how its read splits.
func (g *globals) daemonPartitioner() daemon.Partitioner {
	prepare := g.daemonPreparer()
	return func(ctx context.Context, f *plan.Flow) ([]sdk.Partition, error) {
		p, closeFn, diags := prepare(ctx, f, engine.Options{})
		if closeFn != nil {
			defer closeFn()
		}
		if diags.HasErrors() {
			return nil, fmt.Errorf("prepare: %s", diags.Error())
		}
		return p.Partitions(ctx)
	}
}

// daemonPreparer makes a plugin host for each run; when the run ends its
// plugins go back to the daemon's pool (or stop, without one).
func (g *globals) daemonPreparer() daemon.Preparer {
	return func(ctx context.Context, f *plan.Flow, opts engine.Options) (*engine.Prepared, func(), hcl.Diagnostics) {
		host, err := g.host()
		if err != nil {
			return nil, nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot start plugins", Detail: err.Error()}}
		}
		opts.Host = host
		p, diags := engine.Prepare(ctx, f, opts)
		return p, func() {
			if p != nil {
				p.Close()
			}
			host.Close()
		}, diags
	}
}

func statePathOf(g *globals, path string) string {
	if path != "" {
		return path
	}
	return filepath.Join(g.stateDir, "sluice.db")
}

// openState opens the state database; create says whether a missing
// SQLite file may be created.
func openState(ctx context.Context, g *globals, path string, create bool) (state.Store, error) {
	path = statePathOf(g, path)
	if !create && !strings.Contains(path, "://") {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("no state database at %s (sluice serve creates it; pass --state to name another)", path)
		}
	}
	return state.Open(ctx, path, state.Options{})
}
