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
		addr, pubSubAddr      string
		dataDir, seedFile     string
		records               int
		seed                  int64
		sessionTTL, bulkDelay time.Duration
		logRequests           bool
	)
	c := &cobra.Command{
		Use:   "salesforce",
		Short: "Serve a Salesforce emulator (OAuth, REST, Bulk 2.0, Pub/Sub CDC) until interrupted",
		Long: `Serve a Salesforce emulator: the OAuth token endpoint, REST (describe, query, CRUD,
sObject Collections) and Bulk API 2.0 on one address, and the Pub/Sub API (gRPC, plaintext
HTTP/2) streaming Change Data Capture events of every write on a second one. By default
the Pub/Sub address is the HTTP host with the HTTP port + 1 (127.0.0.1:8384 next to the
default 127.0.0.1:8383; a free port when --addr asks for port 0); --pubsub-addr="" turns it
off. Pub/Sub clients send the printed org_id as tenantid, the base URL as instanceurl and an
access token from the token endpoint as accesstoken.

It prints both addresses and the development credentials on start, serves until
SIGINT/SIGTERM and, with --data, saves its records there on the way out (and loads them on
the next start instead of seeding). Change events are not saved. Faults are switched with
POST <base>/__emulator/faults (see the sfemu package).`,
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
			var psLn net.Listener
			if pubSubAddr != "" {
				psAddr, err := devPubSubAddress(pubSubAddr, addr, ln.Addr())
				if err != nil {
					return invalid(err)
				}
				if psLn, err = net.Listen("tcp", psAddr); err != nil {
					return failed(fmt.Errorf("pub/sub: %w", err))
				}
				defer psLn.Close()
			}

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
			if psLn != nil {
				fmt.Fprintf(out, "Pub/Sub API (gRPC, plaintext) serving on %s\n", psLn.Addr())
			}
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
			if psLn != nil {
				line("pubsub_addr", psLn.Addr().String())
				line("org_id", srv.OrgID())
			}
			var counts []string
			for _, o := range []string{"Account", "Contact", "Lead", "Opportunity", "Case", "User"} {
				counts = append(counts, fmt.Sprintf("%s=%d", o, srv.Count(o)))
			}
			line("records", strings.Join(counts, " ")+fmt.Sprintf(" (ready in %s)", loadTime.Round(time.Millisecond)))
			if dataDir != "" {
				line("data", dataDir+" (saved on exit)")
			}

			hs := &http.Server{Handler: srv, ReadHeaderTimeout: 30 * time.Second}
			errc := make(chan error, 2)
			go func() { errc <- hs.Serve(ln) }()
			if psLn != nil {
				go func() {
					if err := srv.ServePubSub(psLn); err != nil {
						errc <- err
					}
				}()
				defer srv.StopPubSub()
			}
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
	f.StringVar(&pubSubAddr, "pubsub-addr", "auto", `address of the Pub/Sub API ("auto": the HTTP host, port + 1; "": off)`)
	f.StringVar(&dataDir, "data", "", "directory to load records from and save them to on exit")
	f.IntVar(&records, "records", 200, "generated records per object when there is no saved data")
	f.Int64Var(&seed, "seed", 1, "seed of the generated data")
	f.StringVar(&seedFile, "seed-file", "", "JSON file declaring custom objects")
	f.DurationVar(&sessionTTL, "session-ttl", 2*time.Hour, "inactivity timeout of access tokens")
	f.DurationVar(&bulkDelay, "bulk-delay", 0, "time a Bulk job takes to complete (0: one state per status poll)")
	f.BoolVar(&logRequests, "log-requests", false, "log every request to stderr")
	return c
}

// devPubSubAddress resolves --pubsub-addr: "auto" is the HTTP listener's
// host with the HTTP port + 1, or a free port when --addr asked for one.
func devPubSubAddress(flag, httpFlag string, httpAddr net.Addr) (string, error) {
	if flag != "auto" {
		return flag, nil
	}
	tcp, ok := httpAddr.(*net.TCPAddr)
	if !ok {
		return "", fmt.Errorf("--pubsub-addr=auto needs a TCP --addr, not %s", httpAddr)
	}
	port := 0
	if _, p, err := net.SplitHostPort(httpFlag); err == nil && p != "0" {
		port = tcp.Port + 1
	}
	return net.JoinHostPort(tcp.IP.String(), fmt.Sprint(port)), nil
}
