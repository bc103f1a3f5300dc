package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluice-dev/sluice/plugins/redshift/pgtest"
	"github.com/sluice-dev/sluice/plugins/salesforce/sfemu"
)

var (
	rsPluginOnce sync.Once
	rsPluginErr  error

	pgOnce    sync.Once
	pgCluster *pgtest.Cluster
	pgErr     error
)

// buildRedshiftPlugin adds sluice-plugin-redshift to binDir.
func buildRedshiftPlugin(t testing.TB) {
	t.Helper()
	rsPluginOnce.Do(func() {
		out, err := exec.Command("go", "build", "-o", filepath.Join(binDir, "sluice-plugin-redshift"),
			"github.com/sluice-dev/sluice/plugins/redshift").CombinedOutput()
		if err != nil {
			rsPluginErr = fmt.Errorf("%w: %s", err, out)
		}
	})
	if rsPluginErr != nil {
		t.Fatalf("build sluice-plugin-redshift: %v", rsPluginErr)
	}
}

// testPostgres starts one PostgreSQL for the package's tests that need it
// (stopped in TestMain); without the server binaries it skips, or fails
// under CI=true.
func testPostgres(t testing.TB) *pgtest.Cluster {
	t.Helper()
	pgOnce.Do(func() { pgCluster, pgErr = pgtest.Start() })
	if pgErr != nil {
		msg := fmt.Sprintf("PostgreSQL: %v (%s)", pgErr, pgtest.MissingMessage)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return pgCluster
}

func stopTestPostgres() {
	if pgCluster != nil {
		_ = pgCluster.Stop()
	}
}

// sfREST is a minimal Salesforce REST client for driving the emulator as
// another application would (its writes carry its own client tag, so the
// connector does not take them for its own echoes).
type sfREST struct {
	t     testing.TB
	base  string
	token string
}

func newSFREST(t testing.TB, base string) *sfREST {
	t.Helper()
	res, err := http.PostForm(base+"/services/oauth2/token", url.Values{"grant_type": {"password"},
		"client_id": {sfemu.DefaultConsumerKey}, "client_secret": {sfemu.DefaultConsumerSecret},
		"username": {sfemu.DefaultUsername}, "password": {sfemu.DefaultPassword}})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(res.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("token: %v", err)
	}
	return &sfREST{t: t, base: base, token: tok.AccessToken}
}

func (c *sfREST) do(method, path string, body any, out any) int {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.base+"/services/data/v62.0"+path, rd)
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Sforce-Call-Options", "client=e2e-test")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode >= 300 {
		c.t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return res.StatusCode
}

func (c *sfREST) create(last, email, title string) string {
	var out struct{ ID string }
	c.do("POST", "/sobjects/Contact", map[string]any{"LastName": last, "Email": email, "Title": title}, &out)
	return out.ID
}

func (c *sfREST) update(id string, fields map[string]any) {
	c.do("PATCH", "/sobjects/Contact/"+id, fields, nil)
}

func (c *sfREST) remove(id string) { c.do("DELETE", "/sobjects/Contact/"+id, nil, nil) }

// contact is a row as the flow maps it: email lower-cased, title as is.
type contactRow struct{ email, title string }

// current reads the given contacts back from the emulator.
func (c *sfREST) current(ids []string) map[string]contactRow {
	out := map[string]contactRow{}
	for start := 0; start < len(ids); start += 100 {
		chunk := ids[start:min(start+100, len(ids))]
		q := "SELECT Id, Email, Title FROM Contact WHERE Id IN ('" + strings.Join(chunk, "','") + "')"
		var res struct {
			Records []struct {
				ID    string `json:"Id"`
				Email *string
				Title *string
			} `json:"records"`
		}
		c.do("GET", "/query?q="+url.QueryEscape(q), nil, &res)
		for _, r := range res.Records {
			row := contactRow{}
			if r.Email != nil {
				row.email = strings.ToLower(*r.Email)
			}
			if r.Title != nil {
				row.title = *r.Title
			}
			out[r.ID] = row
		}
	}
	return out
}

// tableRows reads the contacts table; a missing table reads as empty.
func tableRows(t testing.TB, dsn string) (map[string]contactRow, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, `SELECT id, coalesce(email, ''), coalesce(title, '') FROM public.contacts`)
	if err != nil {
		if strings.Contains(err.Error(), "does not exist") {
			return map[string]contactRow{}, 0
		}
		t.Fatal(err)
	}
	defer rows.Close()
	out, n := map[string]contactRow{}, 0
	for rows.Next() {
		var id string
		var r contactRow
		if err := rows.Scan(&id, &r.email, &r.title); err != nil {
			t.Fatal(err)
		}
		out[id] = r
		n++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out, n
}

// startFollowing starts `sluice run` on the event flow; the returned
// function kills it with SIGKILL (no chance to commit anything).
func startFollowing(t testing.TB, dir string, env []string, log io.Writer) (kill func()) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "sluice"), "run", "flows/contacts-to-redshift.hcl")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	kill = func() {
		once.Do(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
	}
	t.Cleanup(kill)
	return kill
}

// syncedLog collects a child process's output; the test reads it while
// the process writes.
type syncedLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *syncedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *syncedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// waitTable polls the table until it holds exactly want.
func waitTable(t testing.TB, dsn string, want map[string]contactRow, log func() string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var got map[string]contactRow
	var n int
	for time.Now().Before(deadline) {
		got, n = tableRows(t, dsn)
		if n == len(got) && equalRows(got, want) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the table never matched Salesforce:\n got %d rows (%d distinct) %v\nwant %v\nsluice said:\n%s", n, len(got), got, want, log())
}

func equalRows(a, b map[string]contactRow) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// followingSetup is flows/contacts-to-redshift.hcl running against the
// emulator and a fresh PostgreSQL database, known to be following.
type followingSetup struct {
	sf    *sfREST
	dsn   string
	env   []string
	dir   string
	out   *syncedLog
	kill  func()
	probe string
}

func startContactsFollowing(t testing.TB) *followingSetup {
	t.Helper()
	buildSalesforcePlugin(t)
	buildRedshiftPlugin(t)
	dsn := testPostgres(t).NewDatabase(t)

	emu, err := sfemu.New(sfemu.Options{Records: 5, Seed: 11, KeepAlive: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(emu)
	t.Cleanup(ts.Close)
	emu.BaseURL = ts.URL
	pubsub, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = emu.ServePubSub(pubsub) }()
	t.Cleanup(emu.StopPubSub)

	dir := workdir(t)
	env := []string{
		"SLUICE_VAR_sf_login_url=" + ts.URL,
		"SLUICE_VAR_sf_pubsub_endpoint=" + pubsub.Addr().String(),
		"SLUICE_VAR_dw_dsn=" + dsn,
	}
	out := &syncedLog{}
	kill := startFollowing(t, dir, env, out)

	sf := newSFREST(t, ts.URL)
	// The subscription starts at the tip of the stream: a probe record is
	// changed until the table shows it, so we know sluice is following.
	probe := sf.create("Probe", "probe@example.com", "v0")
	deadline := time.Now().Add(60 * time.Second)
	for v := 1; ; v++ {
		sf.update(probe, map[string]any{"Title": fmt.Sprintf("v%d", v)})
		time.Sleep(300 * time.Millisecond)
		if rows, _ := tableRows(t, dsn); rows[probe].title == fmt.Sprintf("v%d", v) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sluice never picked up the probe's changes:\n%s", out.String())
		}
	}
	return &followingSetup{sf: sf, dsn: dsn, env: env, dir: dir, out: out, kill: kill, probe: probe}
}

// TestContactsToRedshiftFollowsChanges is AppFlow's first use case end to
// end: flows/contacts-to-redshift.hcl follows Contact change events from the
// emulator's Pub/Sub API into a real PostgreSQL table, through the real
// plugin processes; it is killed with SIGKILL mid-stream and started again,
// and the table still matches Salesforce with no row lost or doubled.
func TestContactsToRedshiftFollowsChanges(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	e := startContactsFollowing(t)
	sf, dsn, logText := e.sf, e.dsn, e.out.String
	touched := []string{e.probe}

	// Creates, updates and deletes while sluice follows.
	for i := range 30 {
		touched = append(touched, sf.create(fmt.Sprintf("Last%d", i), fmt.Sprintf("Person%d@Example.com", i), "new"))
	}
	for _, id := range touched[1:11] {
		sf.update(id, map[string]any{"Title": "updated"})
	}
	for _, id := range touched[11:16] {
		sf.remove(id)
	}
	waitTable(t, dsn, sf.current(touched), logText)

	// Kill sluice in the middle of a stream of changes (the last ones are
	// not committed yet: the micro-batch window is a second), make more
	// while it is down, start it again: it resumes from the stored replay
	// id and the table catches up.
	for i := range 40 {
		sf.update(touched[16+i%15], map[string]any{"Title": fmt.Sprintf("burst %d", i)})
		if i == 15 {
			e.kill()
		}
	}
	for i := range 10 {
		touched = append(touched, sf.create(fmt.Sprintf("Down%d", i), fmt.Sprintf("down%d@example.com", i), "while down"))
	}
	sf.remove(touched[20])
	startFollowing(t, e.dir, e.env, e.out)
	waitTable(t, dsn, sf.current(touched), logText)
}

// BenchmarkEventToTableLatency measures how long a Salesforce change takes
// to become visible in the warehouse table through
// flows/contacts-to-redshift.hcl: the emulator takes 1,000 changes per
// second (ten-record sObject Collections updates every 10 ms, each Title
// carrying its send time), and a PostgreSQL trigger NOTIFYs every row the
// load commits, timestamped on arrival. It reports p50 and p99 in ms and
// the changes per second the table received. Run with -benchtime 1x.
func BenchmarkEventToTableLatency(b *testing.B) {
	const (
		rate     = 1000 // changes per second
		duration = 5 * time.Second
		perCall  = 10
	)
	e := startContactsFollowing(b)
	total := int(duration/time.Second) * rate
	// Every change hits a record of its own: a micro-batch keeps only the
	// last change per record, which would hide the earlier ones' arrival.
	var ids []string
	for len(ids) < total {
		records := make([]map[string]any, 0, 200)
		for i := range 200 {
			records = append(records, map[string]any{"attributes": map[string]string{"type": "Contact"},
				"LastName": fmt.Sprintf("Lat%d", len(ids)+i), "Title": "seed"})
		}
		var res []struct{ ID string }
		e.sf.do("POST", "/composite/sobjects", map[string]any{"allOrNone": true, "records": records}, &res)
		for _, r := range res {
			ids = append(ids, r.ID)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	conn, err := pgx.Connect(ctx, e.dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(context.Background())
	waitTable(b, e.dsn, e.sf.current(append(ids, e.probe)), e.out.String)
	b.Logf("%d records created and loaded", len(ids))
	for _, sql := range []string{
		`CREATE FUNCTION notify_contact() RETURNS trigger LANGUAGE plpgsql AS $$
		 BEGIN PERFORM pg_notify('contacts', NEW.title); RETURN NEW; END $$`,
		`CREATE TRIGGER contacts_notify AFTER INSERT OR UPDATE ON public.contacts FOR EACH ROW EXECUTE FUNCTION notify_contact()`,
		`LISTEN contacts`,
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			b.Fatal(err)
		}
	}
	var latencies []time.Duration
	arrived := make(chan struct{})
	go func() {
		defer close(arrived)
		for len(latencies) < total {
			n, err := conn.WaitForNotification(ctx)
			if err != nil {
				return
			}
			var sent int64
			if _, err := fmt.Sscanf(n.Payload, "t%d", &sent); err == nil {
				latencies = append(latencies, time.Since(time.Unix(0, sent)))
			}
		}
	}()

	b.ResetTimer()
	start := time.Now()
	tick := time.NewTicker(time.Second * perCall / rate)
	for sent := 0; sent < total; {
		<-tick.C
		records := make([]map[string]any, 0, perCall)
		for range perCall {
			records = append(records, map[string]any{"attributes": map[string]string{"type": "Contact"},
				"id": ids[sent%len(ids)], "Title": fmt.Sprintf("t%d", time.Now().UnixNano())})
			sent++
		}
		e.sf.do("PATCH", "/composite/sobjects", map[string]any{"allOrNone": false, "records": records}, nil)
	}
	tick.Stop()
	select {
	case <-arrived:
	case <-time.After(60 * time.Second):
		cancel()
		<-arrived
	}
	elapsed := time.Since(start)
	b.StopTimer()
	if len(latencies) < total {
		b.Fatalf("the table received %d of %d changes\n%s", len(latencies), total, e.out.String())
	}
	slices.Sort(latencies)
	pct := func(p float64) float64 {
		return float64(latencies[int(p*float64(len(latencies)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50_ms")
	b.ReportMetric(pct(0.99), "p99_ms")
	b.ReportMetric(float64(len(latencies))/elapsed.Seconds(), "changes/s")
}
