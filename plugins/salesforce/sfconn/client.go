package sfconn

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"golang.org/x/oauth2/jwt"
)

// DefaultClientTag names sluice in Sforce-Call-Options (client=<tag>), which
// Salesforce copies into the changeOrigin of the change events our writes
// cause: that is how a subscription recognizes and skips its own echoes.
const DefaultClientTag = "sluice"

// authConfig is the decoded connection block.
type authConfig struct {
	loginURL, apiVersion, kind           string
	clientID, clientSecret, refreshToken string
	username, password, privateKey       string
	maxAttempts                          int
	maxBackoff, baseBackoff              time.Duration
	paceAbove                            float64
	clientTag                            string
	pubsubEndpoint                       string
	pubsubInsecure                       bool
}

// client talks to one org. It is safe for concurrent use: the token is
// shared, and a 401 re-authenticates once for everyone.
type client struct {
	cfg  authConfig
	http *http.Client

	loginMu  sync.Mutex // one sign-in at a time
	mu       sync.Mutex
	token    string
	instance string
	orgID    string // the Pub/Sub API's tenantid
	gen      uint64 // bumped on every new token

	usage, limit atomic.Int64 // from Sforce-Limit-Info

	// counters, for tests and diagnostics
	logins, retries, paced atomic.Int64
}

func newClient(cfg authConfig) *client {
	return &client{cfg: cfg, http: &http.Client{Transport: http.DefaultTransport}}
}

// apiError is a Salesforce error: the JSON envelope's first entry.
type apiError struct {
	Status  int
	Method  string
	Path    string
	Code    string
	Message string
	Fields  []string
}

func (e *apiError) Error() string {
	s := fmt.Sprintf("salesforce: %s %s: %d %s: %s", e.Method, e.Path, e.Status, e.Code, e.Message)
	if len(e.Fields) > 0 {
		s += " (fields: " + strings.Join(e.Fields, ", ") + ")"
	}
	return s
}

func parseAPIError(resp *http.Response, body []byte, method, path string) *apiError {
	e := &apiError{Status: resp.StatusCode, Method: method, Path: path}
	var arr []struct {
		Message   string   `json:"message"`
		ErrorCode string   `json:"errorCode"`
		Fields    []string `json:"fields"`
	}
	if json.Unmarshal(body, &arr) == nil && len(arr) > 0 {
		e.Code, e.Message, e.Fields = arr[0].ErrorCode, arr[0].Message, arr[0].Fields
		return e
	}
	e.Code = http.StatusText(resp.StatusCode)
	e.Message = strings.TrimSpace(string(body))
	if len(e.Message) > 300 {
		e.Message = e.Message[:300] + "…"
	}
	return e
}

// tokenURL is the login host's token endpoint.
func (c *client) tokenURL() string {
	return strings.TrimSuffix(c.cfg.loginURL, "/") + "/services/oauth2/token"
}

// login runs the configured grant and stores the session.
func (c *client) login(ctx context.Context) error {
	ctx = context.WithValue(ctx, oauth2.HTTPClient, c.http)
	var tok *oauth2.Token
	var err error
	ep := oauth2.Endpoint{TokenURL: c.tokenURL(), AuthStyle: oauth2.AuthStyleInParams}
	switch c.cfg.kind {
	case "refresh_token":
		conf := &oauth2.Config{ClientID: c.cfg.clientID, ClientSecret: c.cfg.clientSecret, Endpoint: ep}
		tok, err = conf.TokenSource(ctx, &oauth2.Token{RefreshToken: c.cfg.refreshToken}).Token()
	case "password":
		conf := &oauth2.Config{ClientID: c.cfg.clientID, ClientSecret: c.cfg.clientSecret, Endpoint: ep}
		tok, err = conf.PasswordCredentialsToken(ctx, c.cfg.username, c.cfg.password)
	case "client_credentials":
		conf := &clientcredentials.Config{ClientID: c.cfg.clientID, ClientSecret: c.cfg.clientSecret,
			TokenURL: c.tokenURL(), AuthStyle: oauth2.AuthStyleInParams}
		tok, err = conf.Token(ctx)
	case "jwt":
		conf := &jwt.Config{Email: c.cfg.clientID, Subject: c.cfg.username, PrivateKey: []byte(c.cfg.privateKey),
			TokenURL: c.tokenURL(), Audience: strings.TrimSuffix(c.cfg.loginURL, "/"), Expires: 3 * time.Minute}
		tok, err = conf.TokenSource(ctx).Token()
	default:
		return fmt.Errorf("salesforce: unknown auth %q", c.cfg.kind)
	}
	if err != nil {
		return c.authError(err)
	}
	inst, _ := tok.Extra("instance_url").(string)
	if inst == "" {
		return fmt.Errorf("salesforce: the token response from %s has no instance_url", c.tokenURL())
	}
	org := orgIDOf(tok)
	c.mu.Lock()
	c.token, c.instance, c.orgID = tok.AccessToken, strings.TrimSuffix(inst, "/"), org
	c.gen++
	c.mu.Unlock()
	c.logins.Add(1)
	return nil
}

// orgIDOf finds the org id in a token response: the identity URL ends in
// /id/<org id>/<user id>; failing that, Salesforce access tokens start with
// the 15-character org id followed by "!".
func orgIDOf(tok *oauth2.Token) string {
	if id, _ := tok.Extra("id").(string); id != "" {
		if u, err := url.Parse(id); err == nil {
			parts := strings.Split(strings.Trim(u.Path, "/"), "/")
			for i := 0; i+1 < len(parts); i++ {
				if parts[i] == "id" && parts[i+1] != "" {
					return parts[i+1]
				}
			}
		}
	}
	if org, _, ok := strings.Cut(tok.AccessToken, "!"); ok && (len(org) == 15 || len(org) == 18) {
		return org
	}
	return ""
}

// authError turns a token endpoint refusal into a message the user can act on.
func (c *client) authError(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	code, desc := "", ""
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		code, desc = re.ErrorCode, re.ErrorDescription
		if code == "" {
			var body struct {
				Error string `json:"error"`
				Desc  string `json:"error_description"`
			}
			if json.Unmarshal(re.Body, &body) == nil {
				code, desc = body.Error, body.Desc
			}
		}
	}
	if code == "" {
		return fmt.Errorf("salesforce: sign-in at %s (%s): %w", c.cfg.loginURL, c.cfg.kind, err)
	}
	what := fmt.Sprintf("%s: %s", code, desc)
	switch {
	case c.cfg.kind == "refresh_token" && code == "invalid_grant":
		return fmt.Errorf("salesforce: the refresh token of this connection was refused by %s (%s); it has expired or been revoked: re-authorize the connection (client_id %s) in Salesforce and set its new refresh_token",
			c.cfg.loginURL, what, c.cfg.clientID)
	case c.cfg.kind == "jwt" && code == "invalid_grant":
		return fmt.Errorf("salesforce: the JWT bearer sign-in of %s at %s was refused (%s); check that the connected app's certificate matches private_key, that the user is pre-authorized, and that login_url is the right host",
			c.cfg.username, c.cfg.loginURL, what)
	default:
		return fmt.Errorf("salesforce: sign-in at %s with %s refused: %s", c.cfg.loginURL, c.cfg.kind, what)
	}
}

// session returns the current token, signing in first if needed.
func (c *client) session(ctx context.Context) (token, instance string, gen uint64, err error) {
	c.mu.Lock()
	if c.token != "" {
		defer c.mu.Unlock()
		return c.token, c.instance, c.gen, nil
	}
	c.mu.Unlock()
	if err := c.relogin(ctx, 0); err != nil {
		return "", "", 0, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.token, c.instance, c.gen, nil
}

// pubsubSession is session plus the org id the Pub/Sub API wants as tenantid.
func (c *client) pubsubSession(ctx context.Context) (token, instance, org string, gen uint64, err error) {
	token, instance, gen, err = c.session(ctx)
	if err != nil {
		return "", "", "", 0, err
	}
	c.mu.Lock()
	org = c.orgID
	c.mu.Unlock()
	if org == "" {
		return "", "", "", 0, fmt.Errorf("salesforce: the sign-in answer from %s names no org id (no identity URL), which the Pub/Sub API needs as tenantid", c.cfg.loginURL)
	}
	return token, instance, org, gen, nil
}

// relogin signs in again unless someone already replaced token generation gen.
func (c *client) relogin(ctx context.Context, gen uint64) error {
	c.loginMu.Lock()
	defer c.loginMu.Unlock()
	c.mu.Lock()
	fresh := c.token != "" && c.gen != gen
	c.mu.Unlock()
	if fresh {
		return nil
	}
	return c.login(ctx)
}

// request describes one call; body is re-sent on retries.
type request struct {
	method, path string // path: absolute ("/services/...") or versioned ("sobjects/...")
	query        url.Values
	body         []byte
	contentType  string
	accept       string
	header       http.Header
}

// dataPath turns a relative API path into /services/data/vXX.X/....
func (c *client) dataPath(p string) string {
	if strings.HasPrefix(p, "/") {
		return p
	}
	return "/services/data/v" + c.cfg.apiVersion + "/" + p
}

// do sends r, re-authenticating once on INVALID_SESSION_ID and backing off
// on REQUEST_LIMIT_EXCEEDED, 503 and network errors. The caller closes the
// body of the successful (2xx) response it gets.
func (c *client) do(ctx context.Context, r request) (*http.Response, error) {
	path := c.dataPath(r.path)
	reauthed := false
	for attempt := 1; ; attempt++ {
		tok, inst, gen, err := c.session(ctx)
		if err != nil {
			return nil, err
		}
		if err := c.pace(ctx); err != nil {
			return nil, err
		}
		u := inst + path
		if len(r.query) > 0 {
			u += "?" + r.query.Encode()
		}
		var body io.Reader
		if r.body != nil {
			body = bytes.NewReader(r.body)
		}
		req, err := http.NewRequestWithContext(ctx, r.method, u, body)
		if err != nil {
			return nil, err
		}
		for k, vs := range r.header {
			req.Header[k] = vs
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Sforce-Call-Options", "client="+c.cfg.clientTag)
		if r.contentType != "" {
			req.Header.Set("Content-Type", r.contentType)
		}
		accept := r.accept
		if accept == "" {
			accept = "application/json"
		}
		req.Header.Set("Accept", accept)
		resp, err := c.http.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if attempt < c.cfg.maxAttempts {
				if werr := c.backoff(ctx, attempt); werr != nil {
					return nil, werr
				}
				continue
			}
			return nil, fmt.Errorf("salesforce: %s %s: %w", r.method, path, err)
		}
		c.noteLimits(resp.Header.Get("Sforce-Limit-Info"))
		if resp.StatusCode < 300 {
			return resp, nil
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		ae := parseAPIError(resp, b, r.method, path)
		switch {
		case resp.StatusCode == http.StatusUnauthorized && !reauthed:
			// Sessions have no expiry the client can see: a 401 is how
			// it learns. Sign in again once and retry.
			reauthed = true
			if err := c.relogin(ctx, gen); err != nil {
				return nil, err
			}
			continue
		case (resp.StatusCode == http.StatusForbidden && ae.Code == "REQUEST_LIMIT_EXCEEDED") ||
			resp.StatusCode == http.StatusServiceUnavailable || ae.Code == "UNABLE_TO_LOCK_ROW" ||
			resp.StatusCode == http.StatusBadGateway || resp.StatusCode == http.StatusGatewayTimeout:
			if attempt < c.cfg.maxAttempts {
				if werr := c.backoff(ctx, attempt); werr != nil {
					return nil, werr
				}
				continue
			}
			return nil, fmt.Errorf("%w (gave up after %d attempts)", ae, attempt)
		}
		return nil, ae
	}
}

// doJSON sends r and decodes a JSON answer into out (when not nil).
func (c *client) doJSON(ctx context.Context, r request, out any) error {
	resp, err := c.do(ctx, r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	if err := dec.Decode(out); err != nil {
		return fmt.Errorf("salesforce: %s %s: decoding the answer: %w", r.method, c.dataPath(r.path), err)
	}
	return nil
}

// backoff waits before attempt+1: exponential from baseBackoff, capped at
// maxBackoff, with full jitter in the upper half.
func (c *client) backoff(ctx context.Context, attempt int) error {
	c.retries.Add(1)
	d := c.cfg.baseBackoff << min(attempt-1, 20)
	if d > c.cfg.maxBackoff || d <= 0 {
		d = c.cfg.maxBackoff
	}
	d = d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
	return sleep(ctx, d)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// noteLimits records api-usage=N/M from Sforce-Limit-Info.
func (c *client) noteLimits(h string) {
	for _, part := range strings.Split(h, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || k != "api-usage" {
			continue
		}
		used, max, ok := strings.Cut(v, "/")
		if !ok {
			continue
		}
		u, err1 := strconv.ParseInt(used, 10, 64)
		m, err2 := strconv.ParseInt(max, 10, 64)
		if err1 == nil && err2 == nil && m > 0 {
			c.usage.Store(u)
			c.limit.Store(m)
		}
	}
}

// pace slows calls down once the org's daily usage passes paceAbove of its
// limit: the closer to the limit, the longer the pause (up to 2s a call),
// so that a long run leaves room for the org's other integrations.
func (c *client) pace(ctx context.Context) error {
	m := c.limit.Load()
	if m <= 0 || c.cfg.paceAbove <= 0 || c.cfg.paceAbove >= 1 {
		return nil
	}
	frac := float64(c.usage.Load()) / float64(m)
	if frac < c.cfg.paceAbove {
		return nil
	}
	c.paced.Add(1)
	over := min((frac-c.cfg.paceAbove)/(1-c.cfg.paceAbove), 1)
	d := time.Duration(float64(2*time.Second) * over)
	if d < 10*time.Millisecond {
		d = 10 * time.Millisecond
	}
	return sleep(ctx, d)
}
