package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"
	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/sluice-dev/sluice/dsl"
	"github.com/sluice-dev/sluice/engine"
	"github.com/sluice-dev/sluice/engine/plan"
	"github.com/sluice-dev/sluice/engine/pluginhost"
	"github.com/sluice-dev/sluice/sdk"
	"github.com/sluice-dev/sluice/sdk/rpc"
)

// version is set at build time by the Makefile.
var version = "dev"

// globals are the flags every command shares.
type globals struct {
	lockFile   string
	devPlugins bool
	pluginDirs []string
	logLevel   string
	vars       []string
	varFiles   []string
	stateDir   string
	idle       time.Duration
	// pool keeps plugin processes between the runs of a daemon; nil
	// elsewhere, where every command starts its own.
	pool *pluginhost.Pool
}

func newRootCommand() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:           "sluice",
		Short:         "Move records between SaaS applications and data stores, as flows written in HCL",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.lockFile, "lock-file", envOr("SLUICE_LOCK_FILE", pluginhost.DefaultLockFile), "plugin lock file")
	pf.BoolVar(&g.devPlugins, "dev-plugins", os.Getenv("SLUICE_DEV_PLUGINS") == "1", "start plugins that are not in the lock file (plugin development only)")
	pf.StringSliceVar(&g.pluginDirs, "plugin-dir", nil, "extra directory to look for plugins in (before $SLUICE_PLUGIN_PATH)")
	pf.StringVar(&g.logLevel, "log-level", envOr("SLUICE_LOG_LEVEL", "warn"), "log level: trace, debug, info, warn, error")
	pf.StringVar(&g.stateDir, "state-dir", envOr("SLUICE_STATE_DIR", ".sluice"), "directory for checkpoints and dead letters")
	pf.DurationVar(&g.idle, "plugin-timeout", rpc.DefaultIdleTimeout, "fail a run when a plugin sends nothing for this long (slow sources keep streams alive with progress)")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return invalid(err) })

	root.AddCommand(
		newValidateCommand(g), newPlanCommand(g), newPreviewCommand(g), newRunCommand(g),
		newConnectorsCommand(g), newEntitiesCommand(g), newDescribeCommand(g),
		newPluginsCommand(g), newFmtCommand(), newVersionCommand(), newImportCommand(), newDevCommand(),
	)
	root.AddCommand(newServeCommand(g), newHistoryCommand(g), newStateCommand(g))
	return root
}

func envOr(key, def string) string {
	if v, ok := os.LookupEnv(key); ok {
		return v
	}
	return def
}

func addVarFlags(c *cobra.Command, g *globals) {
	c.Flags().StringArrayVar(&g.vars, "var", nil, "set a variable: --var name=value (repeatable)")
	c.Flags().StringArrayVar(&g.varFiles, "var-file", nil, "read variables from an HCL file of name = value lines")
}

func (g *globals) logger() hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name: "sluice", Output: os.Stderr, Level: hclog.LevelFromString(g.logLevel),
		Color: hclog.AutoColor,
	})
}

// host builds the plugin host the command uses.
func (g *globals) host() (*pluginhost.Host, error) {
	lock, err := pluginhost.ReadLockFile(g.lockFile)
	if err != nil {
		return nil, invalid(err)
	}
	return &pluginhost.Host{
		Logger:        g.logger(),
		SearchPath:    append(append([]string{}, g.pluginDirs...), pluginhost.DefaultSearchPath()...),
		Lock:          lock,
		AllowUnlocked: g.devPlugins,
		IdleTimeout:   g.idle,
		Pool:          g.pool,
	}, nil
}

// loaded is a parsed flow file with what rendering its diagnostics needs.
type loaded struct {
	cfg   *plan.Config
	files map[string]*hcl.File
	host  *pluginhost.Host
}

// load reads the flow file or directory; diagnostics are printed and turn
// into an invalid-input error.
func (g *globals) load(ctx context.Context, path string) (*loaded, error) {
	host, err := g.host()
	if err != nil {
		return nil, err
	}
	vars, err := parseVars(g.vars)
	if err != nil {
		host.Close()
		return nil, err
	}
	cfg, diags, files := dsl.Load(path, dsl.LoadOptions{
		Vars: vars, VarFiles: g.varFiles,
		Specs: specLookup(ctx, host), PluginSpecs: pluginSpecLookup(ctx, host),
	})
	l := &loaded{cfg: cfg, files: files, host: host}
	if len(diags) > 0 {
		printDiagnostics(files, diags)
	}
	if diags.HasErrors() {
		host.Close()
		return nil, invalid(errReported)
	}
	return l, nil
}

// pickFlow returns the flow to act on: the one named, or the only one.
func (l *loaded) pickFlow(name string) (*plan.Flow, error) {
	if name != "" {
		if f := l.cfg.Flow(name); f != nil {
			return f, nil
		}
		return nil, invalid(fmt.Errorf("no flow named %q; the file has: %s", name, flowNames(l.cfg)))
	}
	switch len(l.cfg.Flows) {
	case 0:
		return nil, invalid(fmt.Errorf("no flow blocks found"))
	case 1:
		return l.cfg.Flows[0], nil
	}
	return nil, invalid(fmt.Errorf("the configuration holds several flows (%s); pick one with --flow", flowNames(l.cfg)))
}

func flowNames(c *plan.Config) string {
	names := make([]string, len(c.Flows))
	for i, f := range c.Flows {
		names[i] = f.Name
	}
	return strings.Join(names, ", ")
}

// prepare opens a flow's connectors and checks it against the source schema.
func (g *globals) prepare(ctx context.Context, l *loaded, f *plan.Flow) (*engine.Prepared, error) {
	p, diags := engine.Prepare(ctx, f, engine.Options{
		Host:          l.host,
		Checkpoints:   engine.DirCheckpoints{Dir: g.stateDir + "/checkpoints"},
		DeadLetterDir: g.stateDir + "/dead-letter",
	})
	if len(diags) > 0 {
		printDiagnostics(l.files, diags)
	}
	if diags.HasErrors() {
		return nil, invalid(errReported)
	}
	return p, nil
}

func printDiagnostics(files map[string]*hcl.File, diags hcl.Diagnostics) {
	width, color := 0, false
	if fd := os.Stderr.Fd(); isatty.IsTerminal(fd) {
		color = true
		if w, _, err := term.GetSize(int(fd)); err == nil {
			width = w
		}
	}
	if !color {
		// HCL's writer marks the offending range only with colour; in a log
		// or a pipe that leaves nothing pointing at it.
		writePlainDiagnostics(os.Stderr, files, diags)
		return
	}
	w := hcl.NewDiagnosticTextWriter(os.Stderr, files, uint(width), color)
	_ = w.WriteDiagnostics(diags)
}

func isTerminal(f *os.File) bool { return isatty.IsTerminal(f.Fd()) }

func cutVar(kv string) (string, string, bool) {
	k, v, ok := strings.Cut(kv, "=")
	return k, v, ok && k != ""
}

// specLookup answers the flow loader from the installed plugins.
func specLookup(ctx context.Context, host *pluginhost.Host) dsl.SpecLookup {
	return func(typ string) (sdk.Spec, error) {
		spec, err := host.Spec(ctx, typ, "")
		if errors.Is(err, pluginhost.ErrNotFound) {
			return spec, fmt.Errorf("%w: %w", dsl.ErrUnknownConnector, err)
		}
		return spec, err
	}
}

// pluginSpecLookup answers for blocks that name their plugin executable.
func pluginSpecLookup(ctx context.Context, host *pluginhost.Host) func(typ, path string) (sdk.Spec, error) {
	return func(typ, path string) (sdk.Spec, error) {
		spec, err := host.Spec(ctx, typ, path)
		if errors.Is(err, pluginhost.ErrNotFound) {
			return spec, fmt.Errorf("%w: %w", dsl.ErrUnknownConnector, err)
		}
		return spec, err
	}
}
