package daemon

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	_ "embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-dev/sluice/engine/state"
)

// The run-history page is served at / by [Daemon.Handler]: one
// server-rendered HTML document (html/template) with inline CSS and an
// inline SVG chart per flow, no script and no external asset (its
// Content-Security-Policy forbids loading any).
//
// It shows the loaded flows (trigger, schedule, next run, active state,
// consecutive failures, the status of the last run and the diagnostics of
// the last load), the most recent runs of every flow (trigger, status,
// counters, duration, dead-letter location, error, and under a run that
// refused records a collapsed list of its error sample), and, for each flow,
// a chart of records written per run over time: one point per run, placed
// by its start time, coloured by its status.
//
// Authentication follows the API's rule — with a token every request
// must carry it — but a browser cannot send a bearer header, so the page
// also accepts:
//
//   - `Authorization: Bearer <token>`, as the API;
//   - `/?token=<token>`: the page then sets an HttpOnly, SameSite=Strict
//     cookie (sluice_session, holding an HMAC of the token, not the token
//     itself, so it is useless against the API) and redirects to the same
//     URL without the token, so it does not stay in the address bar or
//     the browser history;
//   - that cookie, on every later visit.
//
// Without a token (the daemon then listens on loopback only) the page is
// open like the API. The API itself accepts the bearer header only: a
// cookie never authorizes starting or cancelling a run.
//
// Query parameters: flow=NAME shows only that flow's runs; limit=N (1 to
// 500, default 50) is how many recent runs the table lists.

// pageCookie is the cookie the history page authenticates browsers with.
const pageCookie = "sluice_session"

// pageSecret is what the cookie holds for token: an HMAC, so the cookie
// does not carry the token and cannot stand in for it at the API.
func pageSecret(token string) string {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("sluice run-history page v1"))
	return hex.EncodeToString(m.Sum(nil))
}

// pageAuth admits a request to the history page: bearer header, token
// query parameter (which sets the cookie and redirects) or cookie.
func pageAuth(token string, next http.Handler) http.Handler {
	if token == "" {
		return next
	}
	bearer := []byte("Bearer " + token)
	secret := []byte(pageSecret(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Has("token") {
			if subtle.ConstantTimeCompare([]byte(q.Get("token")), []byte(token)) != 1 {
				pageUnauthorized(w, "The token in the address is wrong.")
				return
			}
			http.SetCookie(w, &http.Cookie{Name: pageCookie, Value: string(secret), Path: "/",
				HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
			q.Del("token")
			u := *r.URL
			u.RawQuery = q.Encode()
			w.Header().Set("Cache-Control", "no-store")
			http.Redirect(w, r, u.RequestURI(), http.StatusSeeOther)
			return
		}
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), bearer) == 1 {
			next.ServeHTTP(w, r)
			return
		}
		if c, err := r.Cookie(pageCookie); err == nil && subtle.ConstantTimeCompare([]byte(c.Value), secret) == 1 {
			next.ServeHTTP(w, r)
			return
		}
		pageUnauthorized(w, "This daemon requires its API token.")
	})
}

func pageUnauthorized(w http.ResponseWriter, why string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("WWW-Authenticate", `Bearer realm="sluice"`)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusUnauthorized)
	fmt.Fprintf(w, `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>sluice: token required</title></head>`+
		`<body style="font-family:system-ui,sans-serif;margin:2rem"><h1>401: token required</h1><p>%s Open <code>/?token=TOKEN</code> once; `+
		`the browser then keeps a session cookie.</p></body></html>`, template.HTMLEscapeString(why))
}

//go:embed page.html.tmpl
var pageSource string

var pageTemplate = template.Must(template.New("page").Funcs(template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"iso": func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) },
	"num": func(n int64) string { return groupDigits(n) },
	"bytes": func(n int64) string {
		switch {
		case n >= 1<<30:
			return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
		case n >= 1<<20:
			return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
		case n >= 1<<10:
			return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
		}
		return fmt.Sprintf("%d B", n)
	},
}).Parse(pageSource))

// groupDigits writes 1234567 as 1,234,567.
func groupDigits(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// pageFlow is one flow as the page shows it.
type pageFlow struct {
	FlowInfo
	TriggerText string
	Status      string
	LastAt      time.Time
	Chart       chart
}

// pageRun is one run as the page shows it.
type pageRun struct {
	*state.Run
	Duration string
}

type pageData struct {
	Now         time.Time
	Flows       []pageFlow
	Runs        []pageRun
	Diagnostics []Diagnostic
	Filter      string
	Limit       int
	StoreError  string
	Pending     int
}

// chartRunLimit is how many of a flow's most recent runs its chart plots.
const chartRunLimit = 60

// chart is an inline SVG of records written per run, computed here so
// the page needs no script.
type chart struct {
	W, H, Left, Right, Top, Bottom int
	Points                         []chartPoint
	// Line is the polyline's points attribute.
	Line      string
	MaxLabel  string
	MaxY      float64
	FromLabel string
	ToLabel   string
}

type chartPoint struct {
	X, Y    float64
	Run     string
	Status  string
	Written int64
	At      time.Time
}

// newChart places runs (any order) on a time axis; with one run, or runs
// all started at the same instant, they are spread evenly instead.
func newChart(runs []*state.Run) chart {
	c := chart{W: 640, H: 160, Left: 56, Right: 632, Top: 12, Bottom: 132}
	if len(runs) == 0 {
		return c
	}
	rs := slices.Clone(runs)
	slices.SortStableFunc(rs, func(a, b *state.Run) int { return a.StartedAt.Compare(b.StartedAt) })
	var max int64
	for _, r := range rs {
		if r.RecordsWritten > max {
			max = r.RecordsWritten
		}
	}
	if max == 0 {
		max = 1
	}
	t0, t1 := rs[0].StartedAt, rs[len(rs)-1].StartedAt
	span := t1.Sub(t0)
	plotW, plotH := float64(c.Right-c.Left), float64(c.Bottom-c.Top)
	var line strings.Builder
	for i, r := range rs {
		var fx float64
		switch {
		case span > 0:
			fx = float64(r.StartedAt.Sub(t0)) / float64(span)
		case len(rs) > 1:
			fx = float64(i) / float64(len(rs)-1)
		default:
			fx = 0.5
		}
		p := chartPoint{
			X: round1(float64(c.Left) + fx*plotW), Y: round1(float64(c.Bottom) - float64(r.RecordsWritten)/float64(max)*plotH),
			Run: r.ID, Status: string(r.Status), Written: r.RecordsWritten, At: r.StartedAt,
		}
		c.Points = append(c.Points, p)
		if i > 0 {
			line.WriteByte(' ')
		}
		fmt.Fprintf(&line, "%g,%g", p.X, p.Y)
	}
	c.Line = line.String()
	c.MaxLabel = groupDigits(max)
	c.MaxY = float64(c.Top)
	c.FromLabel = t0.UTC().Format("01-02 15:04:05")
	c.ToLabel = t1.UTC().Format("01-02 15:04:05")
	return c
}

func round1(f float64) float64 { return float64(int64(f*10+0.5)) / 10 }

func triggerText(t TriggerInfo) string {
	parts := []string{t.Kind}
	if t.Cron != "" {
		parts = append(parts, "cron "+t.Cron)
	}
	if t.Rate != "" {
		parts = append(parts, "every "+t.Rate)
	}
	if t.Timezone != "" {
		parts = append(parts, t.Timezone)
	}
	if t.Start != nil {
		parts = append(parts, "from "+t.Start.UTC().Format("2006-01-02 15:04Z"))
	}
	if t.End != nil {
		parts = append(parts, "until "+t.End.UTC().Format("2006-01-02 15:04Z"))
	}
	if t.Cursor != "" {
		parts = append(parts, "incremental on "+t.Cursor)
	}
	if t.Event != "" {
		parts = append(parts, fmt.Sprintf("follows %s in batches of %d or %s", t.Event, t.BatchSize, t.BatchWindow))
	}
	if t.MaxFailures > 0 {
		parts = append(parts, fmt.Sprintf("deactivates after %d failures", t.MaxFailures))
	}
	return strings.Join(parts, " · ")
}

func durationText(r *state.Run, now time.Time) string {
	d := r.Duration(now)
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(10 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// historyPage renders the run-history page.
func (d *Daemon) historyPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 50
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 500 {
			http.Error(w, "limit must be a number from 1 to 500", http.StatusBadRequest)
			return
		}
		limit = n
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	now := d.opts.Clock.Now()
	data := pageData{Now: now, Filter: q.Get("flow"), Limit: limit, Diagnostics: d.Diagnostics(), Pending: d.Pending()}
	var storeErr error
	live := func(runs []*state.Run) {
		for i, run := range runs {
			if run.Status == state.Running {
				if l := d.liveRun(run.ID); l != nil {
					runs[i] = l
				}
			}
		}
	}
	for _, f := range d.Flows() {
		pf := pageFlow{FlowInfo: f, TriggerText: triggerText(f.Trigger), Status: "no runs yet"}
		runs, err := d.opts.Store.Runs(ctx, state.RunFilter{Flow: f.Name, Limit: chartRunLimit})
		if err != nil {
			storeErr = err
		}
		live(runs)
		switch {
		case f.Running != nil:
			pf.Status, pf.LastAt = string(state.Running), f.Running.StartedAt
		case len(runs) > 0:
			pf.Status, pf.LastAt = string(runs[0].Status), runs[0].StartedAt
		case f.LastRun != nil:
			pf.Status, pf.LastAt = string(f.LastRun.Status), f.LastRun.StartedAt
		}
		pf.Chart = newChart(runs)
		data.Flows = append(data.Flows, pf)
	}
	runs, err := d.opts.Store.Runs(ctx, state.RunFilter{Flow: data.Filter, Limit: limit})
	if err != nil {
		storeErr = err
	}
	live(runs)
	for _, run := range runs {
		data.Runs = append(data.Runs, pageRun{Run: run, Duration: durationText(run, now)})
	}
	if storeErr != nil {
		data.StoreError = storeErr.Error()
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if err := pageTemplate.Execute(w, data); err != nil {
		d.log.Error("render the history page", "err", err)
	}
}
