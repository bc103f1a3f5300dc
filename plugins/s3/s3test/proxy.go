package s3test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
)

// Proxy is a fault-injecting HTTP proxy in front of a server: it answers
// 503 SlowDown or drops connections on demand, and passes everything else
// through unchanged (the Host header included, so signatures still match).
type Proxy struct {
	// URL is the endpoint to give the client instead of the server's.
	URL string

	srv *httptest.Server
	mu  sync.Mutex

	slowDown      int // requests still to refuse with 503 SlowDown
	slowDowns     int // requests refused so far
	partsAllowed  int // UploadPart requests to pass before dropping; -1: no limit
	droppedParts  int
	requests      int
	abortRequests int
	// PUTs by how the body was signed: x-amz-content-sha256 of
	// UNSIGNED-PAYLOAD, or a hash.
	unsignedPuts, signedPuts int
}

// NewProxy starts a proxy in front of target (a base URL); it stops when t
// ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{partsAllowed: -1}
	rp := httputil.NewSingleHostReverseProxy(u)
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.requests++
		q := r.URL.Query()
		isPart := r.Method == http.MethodPut && q.Has("partNumber") && q.Has("uploadId")
		if r.Method == http.MethodDelete && q.Has("uploadId") {
			p.abortRequests++
		}
		if r.Method == http.MethodPut {
			if r.Header.Get("X-Amz-Content-Sha256") == "UNSIGNED-PAYLOAD" {
				p.unsignedPuts++
			} else {
				p.signedPuts++
			}
		}
		if p.slowDown > 0 {
			p.slowDown--
			p.slowDowns++
			p.mu.Unlock()
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`)
			return
		}
		if isPart && p.partsAllowed >= 0 {
			if p.partsAllowed == 0 {
				p.droppedParts++
				p.mu.Unlock()
				// The connection goes away mid-request, as when a
				// network path drops.
				if hj, ok := w.(http.Hijacker); ok {
					if conn, _, err := hj.Hijack(); err == nil {
						conn.Close()
						return
					}
				}
				panic(http.ErrAbortHandler)
			}
			p.partsAllowed--
		}
		p.mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	p.URL = p.srv.URL
	t.Cleanup(p.Close)
	return p
}

// SlowDown makes the next n requests fail with 503 SlowDown.
func (p *Proxy) SlowDown(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.slowDown = n
}

// DropPartsAfter lets n more UploadPart requests through, then drops the
// connection of every later one.
func (p *Proxy) DropPartsAfter(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.partsAllowed = n
}

// Stats reports the requests seen, those refused with SlowDown, the
// UploadPart requests dropped and the AbortMultipartUpload requests seen.
func (p *Proxy) Stats() (requests, slowDowns, droppedParts, aborts int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.requests, p.slowDowns, p.droppedParts, p.abortRequests
}

// Puts reports the PUT requests (objects, parts, buckets) seen, by how
// their bodies were signed: UNSIGNED-PAYLOAD or with the body's SHA-256.
func (p *Proxy) Puts() (unsigned, signed int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.unsignedPuts, p.signedPuts
}

// Close stops the proxy and closes its connections.
func (p *Proxy) Close() {
	p.srv.CloseClientConnections()
	p.srv.Close()
}
