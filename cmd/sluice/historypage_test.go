package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
)

// chromiumPath is Debian's chromium package.
const chromiumPath = "/usr/bin/chromium"

const chromiumMissing = "the run-history page test loads the page in a real browser: apt-get install -y chromium"

// needChromium skips the test without chromium, or fails it under CI=true.
func needChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal(chromiumMissing)
	}
	t.Skip(chromiumMissing)
}

// dumpDOM loads url in headless chromium and returns the DOM once the page
// has loaded (after any redirect).
func dumpDOM(t *testing.T, url string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromiumPath, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--user-data-dir="+t.TempDir(), "--dump-dom", url)
	cmd.WaitDelay = 5 * time.Second
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium --dump-dom %s: %v\n%s", url, err, errb.String())
	}
	if out.Len() == 0 {
		t.Fatalf("chromium printed no DOM:\n%s", errb.String())
	}
	return out.String()
}

const pageFlowDE = `flow "contacts_de" {
  description = "German contacts"
  trigger "schedule" {
    cron     = "0 3 1 1 *"
    timezone = "Europe/Berlin"
  }
  source "file" { path = "testdata/contacts.csv" }
  filter { where = "Country == 'DE'" }
  sink "file" { path = "out/de" }
  on_error {
    mode        = "continue"
    dead_letter = "out/rejected"
  }
}
`

const pageFlowAll = `flow "contacts_all" {
  trigger "on_demand" {}
  source "file" { path = "testdata/contacts.csv" }
  sink "file" { path = "out/all" }
  on_error {
    mode        = "continue"
    dead_letter = "out/rejected"
  }
}
`

// attr returns an element's attribute.
func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// findAll returns the elements under n for which match holds.
func findAll(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && match(n) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

func hasClass(n *html.Node, class string) bool {
	return n.Type == html.ElementNode && strings.Contains(" "+attr(n, "class")+" ", " "+class+" ")
}

func textOf(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.TrimSpace(b.String())
}

// TestHistoryPageInBrowser serves two flows, runs them a few times
// through the API, and loads the run-history page in headless chromium
// the way a person would: /?token=... once, which sets the session cookie
// and redirects to the page. The DOM must show both flows, every run with
// its counters, and a chart per flow with one point per run.
func TestHistoryPageInBrowser(t *testing.T) {
	needChromium(t)
	dir := workdir(t)
	flows := filepath.Join(dir, "pageflows")
	os.MkdirAll(flows, 0o755)
	os.WriteFile(filepath.Join(flows, "de.hcl"), []byte(pageFlowDE), 0o644)
	os.WriteFile(filepath.Join(flows, "all.hcl"), []byte(pageFlowAll), 0o644)

	const token = "page-t0ken"
	base, _ := startServe(t, dir, "--flows", "pageflows", "--state", "state.db", "--token", token)

	want := map[string]int{"contacts_de": 3, "contacts_all": 2}
	for _, flow := range []string{"contacts_de", "contacts_all", "contacts_de", "contacts_all", "contacts_de"} {
		var run historyRun
		code, body := api(t, "POST", base+"/api/v1/flows/"+flow+"/runs", token)
		if code != 202 || json.Unmarshal(body, &run) != nil {
			t.Fatalf("start %s: %d %s", flow, code, body)
		}
		waitFor(t, "run "+run.ID, 30*time.Second, func() bool {
			code, body := api(t, "GET", base+"/api/v1/runs/"+run.ID, token)
			json.Unmarshal(body, &run)
			return code == 200 && run.Status != "running"
		})
		if run.Status != "completed_with_errors" && run.Status != "succeeded" {
			t.Fatalf("run of %s: %+v", flow, run)
		}
	}
	code, body := api(t, "GET", base+"/api/v1/runs?limit=100", token)
	var list struct {
		Runs []struct {
			historyRun
			Flow          string `json:"flow"`
			RecordsRead   int64  `json:"records_read"`
			RecordsFailed int64  `json:"records_failed"`
			DeadLetter    string `json:"dead_letter"`
		} `json:"runs"`
	}
	if code != 200 || json.Unmarshal(body, &list) != nil || len(list.Runs) != 5 {
		t.Fatalf("runs: %d %s", code, body)
	}

	// Without the token the browser gets the 401 page, not the history.
	if dom := dumpDOM(t, base+"/"); !strings.Contains(dom, "401") || strings.Contains(dom, "contacts_de") {
		t.Fatalf("the page without a token:\n%s", dom)
	}

	dom := dumpDOM(t, base+"/?token="+token)
	doc, err := html.Parse(strings.NewReader(dom))
	if err != nil {
		t.Fatal(err)
	}
	fail := func(format string, args ...any) {
		t.Helper()
		t.Errorf(format, args...)
	}

	// Both flows, with their trigger, state and last status.
	rows := findAll(doc, func(n *html.Node) bool { return n.Data == "tr" && hasClass(n, "flow") })
	byFlow := map[string]*html.Node{}
	for _, r := range rows {
		byFlow[attr(r, "data-flow")] = r
	}
	if len(rows) != 2 || byFlow["contacts_de"] == nil || byFlow["contacts_all"] == nil {
		t.Fatalf("flow rows %d %v:\n%s", len(rows), byFlow, dom)
	}
	if tr := textOf(byFlow["contacts_de"]); !strings.Contains(tr, "cron 0 3 1 1 *") || !strings.Contains(tr, "Europe/Berlin") ||
		!strings.Contains(tr, "active") || !strings.Contains(tr, "German contacts") {
		fail("contacts_de row: %q", tr)
	}
	if tr := textOf(byFlow["contacts_all"]); !strings.Contains(tr, "on_demand") {
		fail("contacts_all row: %q", tr)
	}
	for flow, n := range want {
		cells := findAll(byFlow[flow], func(n *html.Node) bool { return hasClass(n, "run-count") })
		if len(cells) != 1 || textOf(cells[0]) != strconv.Itoa(n) {
			fail("%s: run count cell %v, want %d", flow, cells, n)
		}
		st := findAll(byFlow[flow], func(n *html.Node) bool { return hasClass(n, "last-status") })
		if len(st) != 1 || (textOf(st[0]) != "completed_with_errors" && textOf(st[0]) != "succeeded") {
			fail("%s: last status %v", flow, st)
		}
	}

	// Every run, with its counters and dead-letter location.
	runRows := findAll(doc, func(n *html.Node) bool { return n.Data == "tr" && hasClass(n, "run") })
	if len(runRows) != 5 {
		fail("%d run rows, want 5", len(runRows))
	}
	rowOf := map[string]*html.Node{}
	for _, r := range runRows {
		rowOf[attr(r, "data-run")] = r
	}
	cell := func(row *html.Node, class string) string {
		c := findAll(row, func(n *html.Node) bool { return n.Data == "td" && hasClass(n, class) })
		if len(c) != 1 {
			return "<missing>"
		}
		return strings.ReplaceAll(textOf(c[0]), ",", "")
	}
	for _, r := range list.Runs {
		row := rowOf[r.ID]
		if row == nil {
			fail("run %s is not on the page", r.ID)
			continue
		}
		if attr(row, "data-flow") != r.Flow || cell(row, "written") != fmt.Sprint(r.RecordsWritten) ||
			cell(row, "read") != fmt.Sprint(r.RecordsRead) || cell(row, "failed") != fmt.Sprint(r.RecordsFailed) {
			fail("run %s row %q, want written %d read %d failed %d", r.ID, textOf(row), r.RecordsWritten, r.RecordsRead, r.RecordsFailed)
		}
		if r.DeadLetter != "" && cell(row, "dead-letter") != r.DeadLetter {
			fail("run %s dead letters %q, want %q", r.ID, cell(row, "dead-letter"), r.DeadLetter)
		}
		if !strings.Contains(textOf(row), r.Status) {
			fail("run %s status not shown: %q", r.ID, textOf(row))
		}
		// A run that refused records shows its error sample under it.
		samples := findAll(doc, func(n *html.Node) bool {
			return n.Data == "tr" && hasClass(n, "run-sample") && attr(n, "data-run") == r.ID
		})
		if r.RecordsFailed > 0 && (len(samples) != 1 || !strings.Contains(textOf(samples[0]), "testdata/contacts.csv:121")) {
			fail("run %s: error sample rows %d, want one naming testdata/contacts.csv:121", r.ID, len(samples))
		}
		if r.RecordsFailed == 0 && len(samples) != 0 {
			fail("run %s refused nothing but shows an error sample", r.ID)
		}
	}

	// One chart per flow, one point per run, each point a run of that flow.
	svgs := findAll(doc, func(n *html.Node) bool { return n.Data == "svg" && hasClass(n, "chart") })
	if len(svgs) != 2 {
		t.Fatalf("%d charts, want 2:\n%s", len(svgs), dom)
	}
	for _, svg := range svgs {
		flow := attr(svg, "data-flow")
		pts := findAll(svg, func(n *html.Node) bool { return n.Data == "circle" })
		if len(pts) != want[flow] {
			fail("chart of %s: %d points, want %d", flow, len(pts), want[flow])
		}
		if len(findAll(svg, func(n *html.Node) bool { return n.Data == "polyline" })) != 1 {
			fail("chart of %s has no line", flow)
		}
		for _, p := range pts {
			row := rowOf[attr(p, "data-run")]
			if row == nil || attr(row, "data-flow") != flow || attr(p, "data-written") != cell(row, "written") {
				fail("chart of %s: point %v does not match a run of the flow", flow, p.Attr)
			}
		}
	}
	if t.Failed() {
		t.Logf("DOM:\n%s", dom)
	}
}
