package sfconn

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/sluice-dev/sluice/sdk"
)

// Version is the connector's release, reported in its Spec.
const Version = "0.1.0"

// Connector reads and writes Salesforce objects. After Configure it holds
// one client (one session, shared by concurrent reads and writes).
type Connector struct {
	sdk.Unimplemented
	mem   memory.Allocator
	cl    *client
	cache describeCache
	// lastAPI is "rest" or "bulk": what the latest Read used (for tests).
	lastAPI atomic.Value
	// log receives what a subscription must not keep quiet about (replay
	// fallbacks, resyncs, reconnects); nil is slog's default logger, which
	// sdk/serve points at the plugin's stderr.
	log *slog.Logger
	// pubsubRoots replaces the system's CAs for the Pub/Sub API (tests);
	// streamIdle replaces how long a silent stream is trusted (tests).
	pubsubRoots *x509.CertPool
	streamIdle  time.Duration
}

var (
	_ sdk.Connector       = (*Connector)(nil)
	_ sdk.Checker         = (*Connector)(nil)
	_ sdk.EntityLister    = (*Connector)(nil)
	_ sdk.EntityDescriber = (*Connector)(nil)
	_ sdk.Source          = (*Connector)(nil)
	_ sdk.Sink            = (*Connector)(nil)
	_ sdk.WriteChecker    = (*Connector)(nil)
	_ sdk.EventSource     = (*Connector)(nil)
)

// New returns the Salesforce connector, unconfigured.
func New() *Connector { return &Connector{mem: memory.DefaultAllocator} }

// Spec describes the connector and its blocks' attributes.
func (c *Connector) Spec() sdk.Spec {
	return sdk.Spec{
		Name:         "salesforce",
		Version:      Version,
		Description:  "Salesforce objects: SOQL over REST or Bulk API 2.0 reads, sObject Collections or Bulk 2.0 ingest writes, Change Data Capture over the Pub/Sub API.",
		Capabilities: []sdk.Capability{sdk.CapSource, sdk.CapSink, sdk.CapEntities, sdk.CapCheck, sdk.CapEvents, sdk.CapPartitions},
		Connection:   sdk.ConfigSchema{Attributes: connectionAttributes},
		Source:       sdk.ConfigSchema{Attributes: sourceAttributes},
		Sink:         sdk.ConfigSchema{Attributes: sinkAttributes},
		Events:       sdk.ConfigSchema{Attributes: eventAttributes},
	}
}

var authKinds = []string{"refresh_token", "jwt", "client_credentials", "password"}

var connectionAttributes = []sdk.Attribute{
	{Name: "login_url", Type: sdk.TypeString, Required: true,
		Description: "Where to sign in: https://login.salesforce.com, https://test.salesforce.com (sandboxes) or the org's My Domain URL (needed for client_credentials)."},
	{Name: "api_version", Type: sdk.TypeString, Default: "64.0",
		Description: "REST API version, e.g. 64.0."},
	{Name: "auth", Type: sdk.TypeString, Default: "refresh_token",
		Description: "OAuth flow: refresh_token, jwt (JWT bearer with private_key), client_credentials or password (development only)."},
	{Name: "client_id", Type: sdk.TypeString, Sensitive: true,
		Description: "The connected app's consumer key."},
	{Name: "client_secret", Type: sdk.TypeString, Sensitive: true,
		Description: "The connected app's consumer secret (not needed for jwt)."},
	{Name: "refresh_token", Type: sdk.TypeString, Sensitive: true,
		Description: "Refresh token from the web-server flow (auth = refresh_token)."},
	{Name: "username", Type: sdk.TypeString,
		Description: "The user to act as (jwt: the sub claim; password flow)."},
	{Name: "password", Type: sdk.TypeString, Sensitive: true,
		Description: "Password, followed by the security token where the org needs one (auth = password)."},
	{Name: "private_key", Type: sdk.TypeString, Sensitive: true,
		Description: "PEM RSA private key whose certificate is uploaded to the connected app (auth = jwt); use file(\"...\")."},
	{Name: "max_attempts", Type: sdk.TypeInt, Default: int64(10),
		Description: "Attempts per call when Salesforce answers REQUEST_LIMIT_EXCEEDED, 503 or UNABLE_TO_LOCK_ROW, or the network fails."},
	{Name: "retry_max_backoff", Type: sdk.TypeString, Default: "60s",
		Description: "Longest wait between two attempts (exponential from 500ms, with jitter), as a Go duration."},
	{Name: "pace_above", Type: sdk.TypeFloat, Default: 0.9,
		Description: "Fraction of the daily API limit (from Sforce-Limit-Info) above which calls are spaced out, more the closer to the limit; 0 or 1 turns pacing off."},
	{Name: "client_tag", Type: sdk.TypeString, Default: DefaultClientTag,
		Description: "Sent on every call as Sforce-Call-Options: client=<client_tag>; change events whose changeOrigin carries it are this connection's own writes and are not delivered. Give every sluice installation that writes to the same org its own tag."},
	{Name: "pubsub_endpoint", Type: sdk.TypeString, Default: DefaultPubSubEndpoint,
		Description: "host:port of the Pub/Sub API that change events are read from (TLS)."},
	{Name: "pubsub_insecure", Type: sdk.TypeBool, Default: false,
		Description: "Talk to pubsub_endpoint in plaintext (h2c), for the emulator. Accepted only for a loopback endpoint or when login_url is itself http://, since the access token travels with every call."},
}

var (
	versionRE   = regexp.MustCompile(`^\d+\.\d$`)
	clientTagRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
)

// checkPubSubEndpoint refuses plaintext towards a host that could be
// anyone's: the access token is metadata on every Pub/Sub call. Loopback is
// the emulator next door; an http:// login_url already sends the
// credentials in clear, so an emulator elsewhere is not made worse.
func checkPubSubEndpoint(cfg authConfig) sdk.Diagnostics {
	host, port, err := net.SplitHostPort(cfg.pubsubEndpoint)
	if err != nil || host == "" || port == "" {
		return sdk.Diagnostics{sdk.Errorf([]string{"pubsub_endpoint"}, "not host:port", "%q: want e.g. %s", cfg.pubsubEndpoint, DefaultPubSubEndpoint)}
	}
	if !cfg.pubsubInsecure || strings.HasPrefix(strings.ToLower(cfg.loginURL), "http://") {
		return nil
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return sdk.Diagnostics{sdk.Errorf([]string{"pubsub_insecure"}, "plaintext to a remote host",
		"the access token would cross the network in clear text to %s; pubsub_insecure is accepted for a loopback endpoint or an http:// login_url (an emulator) only", host)}
}

// Configure checks the connection block; it does not sign in (Check does).
func (c *Connector) Configure(_ context.Context, v sdk.Values) sdk.Diagnostics {
	var diags sdk.Diagnostics
	cfg := authConfig{
		loginURL:       strings.TrimSuffix(v.String("login_url", ""), "/"),
		apiVersion:     strings.TrimPrefix(v.String("api_version", "64.0"), "v"),
		kind:           v.String("auth", "refresh_token"),
		clientID:       v.String("client_id", ""),
		clientSecret:   v.String("client_secret", ""),
		refreshToken:   v.String("refresh_token", ""),
		username:       v.String("username", ""),
		password:       v.String("password", ""),
		privateKey:     v.String("private_key", ""),
		maxAttempts:    int(v.Int("max_attempts", 10)),
		baseBackoff:    500 * time.Millisecond,
		paceAbove:      v.Float("pace_above", 0.9),
		clientTag:      v.String("client_tag", DefaultClientTag),
		pubsubEndpoint: v.String("pubsub_endpoint", DefaultPubSubEndpoint),
		pubsubInsecure: v.Bool("pubsub_insecure", false),
	}
	if u, err := url.Parse(cfg.loginURL); cfg.loginURL == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		diags = append(diags, sdk.Errorf([]string{"login_url"}, "not a URL", "%q: want e.g. https://login.salesforce.com or https://acme.my.salesforce.com", cfg.loginURL))
	}
	if !versionRE.MatchString(cfg.apiVersion) {
		diags = append(diags, sdk.Errorf([]string{"api_version"}, "not an API version", "%q: want e.g. 64.0", cfg.apiVersion))
	}
	need := func(attr, val string) {
		if val == "" {
			diags = append(diags, sdk.Errorf([]string{attr}, "required", "auth = %q needs %s", cfg.kind, attr))
		}
	}
	switch cfg.kind {
	case "refresh_token":
		need("client_id", cfg.clientID)
		need("refresh_token", cfg.refreshToken)
	case "jwt":
		need("client_id", cfg.clientID)
		need("username", cfg.username)
		need("private_key", cfg.privateKey)
		if cfg.privateKey != "" && !strings.Contains(cfg.privateKey, "PRIVATE KEY-----") {
			diags = append(diags, sdk.Errorf([]string{"private_key"}, "not a PEM private key", "want -----BEGIN PRIVATE KEY----- or -----BEGIN RSA PRIVATE KEY-----"))
		}
	case "client_credentials":
		need("client_id", cfg.clientID)
		need("client_secret", cfg.clientSecret)
	case "password":
		need("client_id", cfg.clientID)
		need("username", cfg.username)
		need("password", cfg.password)
	default:
		diags = append(diags, sdk.Errorf([]string{"auth"}, "unknown auth", "%q: want one of %s", cfg.kind, strings.Join(authKinds, ", ")))
	}
	mb, err := time.ParseDuration(v.String("retry_max_backoff", "60s"))
	if err != nil || mb <= 0 {
		diags = append(diags, sdk.Errorf([]string{"retry_max_backoff"}, "not a duration", "%q: want a Go duration such as 60s", v.String("retry_max_backoff", "")))
	}
	cfg.maxBackoff = mb
	if cfg.baseBackoff > mb {
		cfg.baseBackoff = mb
	}
	if !clientTagRE.MatchString(cfg.clientTag) {
		diags = append(diags, sdk.Errorf([]string{"client_tag"}, "not a client name", "%q: want letters, digits, '_', '-' or '.'", cfg.clientTag))
	}
	diags = append(diags, checkPubSubEndpoint(cfg)...)
	if cfg.maxAttempts < 1 {
		diags = append(diags, sdk.Errorf([]string{"max_attempts"}, "must be at least 1", "got %d", cfg.maxAttempts))
	}
	if diags.HasErrors() {
		return diags
	}
	c.cl = newClient(cfg)
	c.cache = describeCache{}
	return nil
}

func (c *Connector) ready() error {
	if c.cl == nil {
		return errors.New("salesforce: the connector is not configured")
	}
	return nil
}

// Check signs in and reads the org's limits, a cheap authenticated call.
func (c *Connector) Check(ctx context.Context) error {
	if err := c.ready(); err != nil {
		return err
	}
	return c.cl.doJSON(ctx, request{method: "GET", path: "limits"}, nil)
}

// ListEntities lists the queryable objects of the global describe.
func (c *Connector) ListEntities(ctx context.Context) ([]sdk.EntityInfo, error) {
	if err := c.ready(); err != nil {
		return nil, err
	}
	var g struct {
		SObjects []struct {
			Name        string `json:"name"`
			Label       string `json:"label"`
			Custom      bool   `json:"custom"`
			Queryable   bool   `json:"queryable"`
			Retrievable bool   `json:"retrieveable"`
			Createable  bool   `json:"createable"`
		} `json:"sobjects"`
	}
	if err := c.cl.doJSON(ctx, request{method: "GET", path: "sobjects"}, &g); err != nil {
		return nil, err
	}
	var out []sdk.EntityInfo
	for _, o := range g.SObjects {
		if !o.Queryable || !o.Retrievable {
			continue
		}
		d := o.Label
		if o.Custom {
			d += " (custom)"
		}
		if !o.Createable {
			d += ", read-only"
		}
		out = append(out, sdk.EntityInfo{Name: o.Name, Description: d})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// DescribeEntity maps the object's describe onto an Arrow schema.
func (c *Connector) DescribeEntity(ctx context.Context, r sdk.DescribeRequest) (sdk.Entity, error) {
	name := r.Entity
	if name == "" {
		name = r.Options.String("object", "")
	}
	o, err := c.describe(ctx, name)
	if err != nil {
		return sdk.Entity{}, err
	}
	fields := o.readable()
	ent := sdk.Entity{Name: o.Name, Schema: schemaOf(fields), PrimaryKey: []string{"Id"}}
	var cursors []string
	for _, f := range fields {
		if f.Type == "datetime" && !strings.EqualFold(f.Name, "SystemModstamp") {
			cursors = append(cursors, f.Name)
		}
	}
	if o.field("SystemModstamp") != nil {
		cursors = append([]string{o.field("SystemModstamp").Name}, cursors...)
	}
	ent.CursorFields = cursors
	if o.Createable {
		ent.WriteModes = append(ent.WriteModes, sdk.WriteInsert)
	}
	if o.Updateable {
		ent.WriteModes = append(ent.WriteModes, sdk.WriteUpdate)
		if o.Createable {
			ent.WriteModes = append(ent.WriteModes, sdk.WriteUpsert)
		}
	}
	if o.Deletable {
		ent.WriteModes = append(ent.WriteModes, sdk.WriteDelete)
	}
	return ent, nil
}

func (c *Connector) logger() *slog.Logger {
	if c.log != nil {
		return c.log
	}
	return slog.Default()
}

func describeErr(obj string, err error) error {
	return fmt.Errorf("salesforce: %s: %w", obj, err)
}
