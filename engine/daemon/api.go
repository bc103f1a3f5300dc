package daemon

import (
	"context"
	"crypto/subtle"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"

	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sluice-dev/sluice/engine/state"
)

//go:embed openapi.json
var openAPI []byte

// CheckListen refuses an address other than loopback when there is no
// token: the API starts and cancels runs that see your data.
func CheckListen(addr, token string) error {
	if token != "" {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	if host == "" {
		host = "every interface"
	}
	return fmt.Errorf("refusing to listen on %s (%s) without an API token: set --token or SLUICE_TOKEN, or listen on 127.0.0.1", addr, host)
}

// Handler serves the API, metrics, health endpoints, the OpenAPI
// document and the run-history page at /. With a token, /api/ and
// /metrics need `Authorization: Bearer <token>`; /healthz, /readyz and
// /openapi.json never do. The page needs the token too, and also takes it
// as `/?token=<token>`, which sets an HttpOnly session cookie and
// redirects without it (see page.go).
func (d *Daemon) Handler(token string) http.Handler {
	mux := http.NewServeMux()
	api := http.NewServeMux()
	api.HandleFunc("GET /api/v1/flows", d.listFlows)
	api.HandleFunc("GET /api/v1/flows/{name}", d.getFlow)
	api.HandleFunc("POST /api/v1/flows/{name}/runs", d.startRun)
	api.HandleFunc("POST /api/v1/flows/{name}/activate", d.activate(true))
	api.HandleFunc("POST /api/v1/flows/{name}/deactivate", d.activate(false))
	api.HandleFunc("GET /api/v1/runs", d.listRuns)
	api.HandleFunc("GET /api/v1/runs/{id}", d.getRun)
	api.HandleFunc("POST /api/v1/runs/{id}/cancel", d.cancelRun)
	api.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint; see /openapi.json")
	})
	mux.Handle("/api/", auth(token, api))
	mux.Handle("GET /{$}", pageAuth(token, http.HandlerFunc(d.historyPage)))
	mux.Handle("GET /metrics", auth(token, promhttp.HandlerFor(d.metrics.Registry, promhttp.HandlerOpts{})))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !d.Ready() {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(openAPI)
	})
	return mux
}

// auth checks the bearer token before anything else happens.
func auth(token string, next http.Handler) http.Handler {
	if token == "" {
		return next
	}
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="sluice"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong bearer token")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

// writeErr maps daemon and store errors to status codes.
func writeErr(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrNoFlow), errors.Is(err, ErrNoRun), errors.Is(err, state.ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, ErrAlreadyRunning), errors.Is(err, ErrNotRunning):
		code = http.StatusConflict
	case errors.Is(err, ErrDraining), errors.Is(err, state.ErrUnavailable):
		code = http.StatusServiceUnavailable
	}
	writeError(w, code, err.Error())
}

func (d *Daemon) listFlows(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"flows": d.Flows(), "diagnostics": d.Diagnostics()})
}

func (d *Daemon) getFlow(w http.ResponseWriter, r *http.Request) {
	f, ok := d.Flow(r.PathValue("name"))
	if !ok {
		writeErr(w, fmt.Errorf("%w: %s", ErrNoFlow, r.PathValue("name")))
		return
	}
	writeJSON(w, http.StatusOK, f)
}

func (d *Daemon) startRun(w http.ResponseWriter, r *http.Request) {
	run, err := d.RunNow(r.PathValue("name"))
	if err != nil {
		writeErr(w, err)
		return
	}
	w.Header().Set("Location", "/api/v1/runs/"+run.ID)
	writeJSON(w, http.StatusAccepted, run)
}

func (d *Daemon) activate(active bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if err := d.SetActive(r.Context(), name, active); err != nil {
			writeErr(w, err)
			return
		}
		f, _ := d.Flow(name)
		writeJSON(w, http.StatusOK, f)
	}
}

func (d *Daemon) listRuns(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 100
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 || n > 1000 {
			writeError(w, http.StatusBadRequest, "limit must be a number from 1 to 1000")
			return
		}
		limit = n
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	runs, err := d.opts.Store.Runs(ctx, state.RunFilter{Flow: q.Get("flow"), Status: state.RunStatus(q.Get("status")), Limit: limit})
	if err != nil {
		writeErr(w, err)
		return
	}
	for i, run := range runs {
		if run.Status == state.Running {
			if live := d.liveRun(run.ID); live != nil {
				runs[i] = live
			}
		}
	}
	if runs == nil {
		runs = []*state.Run{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"runs": runs})
}

func (d *Daemon) getRun(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if live := d.liveRun(id); live != nil {
		writeJSON(w, http.StatusOK, live)
		return
	}
	run, err := d.opts.Store.Run(r.Context(), id)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, run)
}

func (d *Daemon) cancelRun(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := d.Cancel(id); err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"id": id, "status": "cancelling"})
}
