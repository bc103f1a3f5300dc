package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/hashicorp/go-plugin"
)

// Exit codes, as documented in the README.
const (
	exitOK      = 0
	exitFailed  = 1 // the run (or a plugin call) failed
	exitInvalid = 2 // bad flags or a bad flow file
)

// exitError carries an exit code up to main.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func invalid(err error) error { return &exitError{code: exitInvalid, err: err} }
func failed(err error) error  { return &exitError{code: exitFailed, err: err} }

// errReported marks an error whose message was already printed (as
// diagnostics or a run summary).
var errReported = errors.New("reported")

func main() {
	os.Exit(run())
}

func run() int {
	defer plugin.CleanupClients()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd := newRootCommand()
	cmd.SetArgs(singleDashFlags(os.Args[1:]))
	err := cmd.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	code := exitInvalid // cobra's own errors are bad flags or arguments
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
	}
	if !errors.Is(err, errReported) {
		fmt.Fprintln(os.Stderr, "Error:", err)
	}
	return code
}

// singleDashFlags accepts Terraform's spelling of the flags it shares,
// such as `fmt -check`; pflag would read -check as the shorthands -c -h ...
func singleDashFlags(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		switch a {
		case "-check", "-json":
			a = "-" + a
		}
		out[i] = a
	}
	return out
}
