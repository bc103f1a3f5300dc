package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluice-dev/sluice/plugins/salesforce/sfemu"
)

func newDevCommand() *cobra.Command {
	dev := &cobra.Command{
		Use:   "dev",
		Short: "Run local stand-ins for the services flows talk to (development and tests)",
	}
	dev.AddCommand(newDevSalesforceCommand())
	return dev
}

func newDevSalesforceCommand() *cobra.Command {
	var (
		addr, dataDir, seedFile string
		records                 int
		seed                    int64
		sessionTTL, bulkDelay   time.Duration
		logRequests             bool
	)
	c := &cobra.Command{
		Use:   "salesforce",
		Short: "Serve a Salesforce emulator (OAuth, REST, Bulk 2.0) on one address until interrupted",
		Long: `Serve a Salesforce emulator: the OAuth token endpoint, REST (describe, query, CRUD,
sObject Collections) and Bulk API 2.0 on one address. It prints the base URL and the
development credentials on start, serves until SIGINT/SIGTERM and, with --data, saves its
records there on the way out (and loads them on the next start instead of seeding).
Faults are switched with POST <base>/__emulator/faults (see the sfemu package).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if records < 0 {
				return invalid(fmt.Errorf("--records must not be negative"))
			}
			start := time.Now()
			srv, err := sfemu.New(sfemu.Options{
				Records: records, DataDir: dataDir, SeedFile: seedFile, Seed: seed,
				SessionTTL: sessionTTL, BulkDelay: bulkDelay,
				Logf: func(format string, args ...any) {
					if logRequests {
						fmt.Fprintf(os.Stderr, format+"\n", args...)
					}
				},
			})
			if err != nil {
				return invalid(err)
			}
			loadTime := time.Since(start)
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return failed(err)
			}
			base := "http://" + ln.Addr().String()
			srv.BaseURL = base

			keyDir := dataDir
			if keyDir == "" {
				if keyDir, err = os.MkdirTemp("", "sluice-dev-salesforce-"); err != nil {
					return failed(err)
				}
				defer os.RemoveAll(keyDir)
			} else if err := os.MkdirAll(keyDir, 0o755); err != nil {
				return failed(err)
			}
			keyFile, certFile := filepath.Join(keyDir, "jwt-key.pem"), filepath.Join(keyDir, "jwt-cert.pem")
			if err := os.WriteFile(keyFile, []byte(sfemu.DevPrivateKeyPEM), 0o600); err != nil {
				return failed(err)
			}
			if err := os.WriteFile(certFile, []byte(sfemu.DevCertificatePEM), 0o644); err != nil {
				return failed(err)
			}

			out := cmd.OutOrStdout()
			line := func(k, v string) { fmt.Fprintf(out, "  %-16s %s\n", k+":", v) }
			fmt.Fprintf(out, "Salesforce emulator serving on %s\n", base)
			line("base_url", base)
			line("token_url", base+"/services/oauth2/token")
			line("consumer_key", sfemu.DefaultConsumerKey)
			line("consumer_secret", sfemu.DefaultConsumerSecret)
			line("username", sfemu.DefaultUsername)
			line("password", sfemu.DefaultPassword)
			line("security_token", sfemu.DefaultSecurityToken+" (optional)")
			line("refresh_token", srv.IssueRefreshToken())
			line("jwt_private_key", keyFile)
			line("jwt_certificate", certFile)
			line("api_version", sfemu.DefaultAPIVersion)
			line("faults", "POST "+base+"/__emulator/faults")
			var counts []string
			for _, o := range []string{"Account", "Contact", "Lead", "Opportunity", "Case", "User"} {
				counts = append(counts, fmt.Sprintf("%s=%d", o, srv.Count(o)))
			}
			line("records", strings.Join(counts, " ")+fmt.Sprintf(" (ready in %s)", loadTime.Round(time.Millisecond)))
			if dataDir != "" {
				line("data", dataDir+" (saved on exit)")
			}

			hs := &http.Server{Handler: srv, ReadHeaderTimeout: 30 * time.Second}
			errc := make(chan error, 1)
			go func() { errc <- hs.Serve(ln) }()
			select {
			case err := <-errc:
				return failed(err)
			case <-cmd.Context().Done():
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := hs.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
				fmt.Fprintln(os.Stderr, "shutdown:", err)
			}
			if dataDir != "" {
				if err := srv.Save(dataDir); err != nil {
					return failed(fmt.Errorf("saving %s: %w", dataDir, err))
				}
				fmt.Fprintf(out, "saved to %s\n", dataDir)
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&addr, "addr", "127.0.0.1:8383", "address to listen on (port 0 picks a free one)")
	f.StringVar(&dataDir, "data", "", "directory to load records from and save them to on exit")
	f.IntVar(&records, "records", 200, "generated records per object when there is no saved data")
	f.Int64Var(&seed, "seed", 1, "seed of the generated data")
	f.StringVar(&seedFile, "seed-file", "", "JSON file declaring custom objects")
	f.DurationVar(&sessionTTL, "session-ttl", 2*time.Hour, "inactivity timeout of access tokens")
	f.DurationVar(&bulkDelay, "bulk-delay", 0, "time a Bulk job takes to complete (0: one state per status poll)")
	f.BoolVar(&logRequests, "log-requests", false, "log every request to stderr")
	return c
}
