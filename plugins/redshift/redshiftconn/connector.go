package redshiftconn

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sluice-dev/sluice/sdk"
)

// Version is the connector's release, reported in its Spec.
const Version = "0.1.0"

// Connector loads into and reads from Amazon Redshift, or PostgreSQL in
// postgres mode. Configure it once; it then serves concurrent reads and
// write streams, each on its own connection.
type Connector struct {
	sdk.Unimplemented

	mu         sync.Mutex
	cfg        connConfig
	configured bool

	// store uploads Redshift mode's staged files: the staging bucket's S3
	// client, built by Configure when staging is set (tests replace it).
	store ObjectStore
	// dataAPI is the Data API client of transport = "data_api".
	dataAPI dataAPIClient
	// pollFirst and pollMax override the Data API's polling (tests).
	pollFirst, pollMax time.Duration
	// open opens a pinned session; tests replace it.
	open func(ctx context.Context, cfg connConfig) (session, error)
	// newID names a write stream's staging tables and prefix.
	newID func() string
	// loadErrorWaits are the pauses between reads of the load-error view
	// (tests shorten them).
	loadErrorWaits []time.Duration
}

var (
	_ sdk.Connector       = (*Connector)(nil)
	_ sdk.Checker         = (*Connector)(nil)
	_ sdk.EntityLister    = (*Connector)(nil)
	_ sdk.EntityDescriber = (*Connector)(nil)
	_ sdk.Source          = (*Connector)(nil)
	_ sdk.Sink            = (*Connector)(nil)
	_ sdk.WriteChecker    = (*Connector)(nil)
)

// New returns an unconfigured Redshift connector.
func New() *Connector {
	c := &Connector{loadErrorWaits: defaultLoadErrorWaits}
	c.open = c.openSession
	c.newID = func() string {
		var b [4]byte
		rand.Read(b[:])
		return hex.EncodeToString(b[:])
	}
	return c
}

// openSession opens a session of the configured transport.
func (c *Connector) openSession(ctx context.Context, cfg connConfig) (session, error) {
	if cfg.transport != TransportDataAPI {
		return connect(ctx, cfg.dsn)
	}
	c.mu.Lock()
	client, first, most := c.dataAPI, c.pollFirst, c.pollMax
	c.mu.Unlock()
	if client == nil {
		return nil, errors.New("the Data API client is not configured")
	}
	s := newDataAPISession(client, cfg)
	if first > 0 {
		s.pollFirst = first
	}
	if most > 0 {
		s.pollMax = most
	}
	return s, nil
}

// Spec describes the connector and the attributes of its blocks.
func (c *Connector) Spec() sdk.Spec {
	return sdk.Spec{
		Name:    "redshift",
		Version: Version,
		Description: "Amazon Redshift (or PostgreSQL): bulk loads through staged gzip CSV and COPY with insert, upsert, " +
			"update and delete, and change-event deletes with upsert and update; reads of tables and queries with an incremental cursor.",
		Capabilities: []sdk.Capability{sdk.CapSource, sdk.CapSink, sdk.CapEntities, sdk.CapCheck},
		Connection:   sdk.ConfigSchema{Attributes: connectionAttributes},
		Source:       sdk.ConfigSchema{Attributes: sourceAttributes},
		Sink:         sdk.ConfigSchema{Attributes: sinkAttributes},
	}
}

// Configure checks and keeps the connection block and builds the AWS
// clients it needs: the staging bucket's S3 client in Redshift mode with
// staging set, the Data API client with transport = "data_api". It does
// not connect: Check does.
func (c *Connector) Configure(ctx context.Context, config sdk.Values) sdk.Diagnostics {
	cfg, diags := parseConnConfig(config)
	if diags.HasErrors() {
		return diags
	}
	var store ObjectStore
	if cfg.mode == ModeRedshift && cfg.staging != "" {
		s, err := newS3Store(ctx, cfg.aws)
		if err != nil {
			return append(diags, sdk.Errorf(nil, "cannot build the staging bucket's S3 client", "%v", err))
		}
		store = s
	}
	var client dataAPIClient
	if cfg.transport == TransportDataAPI {
		dc, _, err := cfg.aws.newDataAPIClient(ctx)
		if err != nil {
			return append(diags, sdk.Errorf(nil, "cannot build the Redshift Data API client", "%v", err))
		}
		client = dc
	}
	c.mu.Lock()
	c.cfg, c.configured = cfg, true
	c.store, c.dataAPI = store, client
	c.mu.Unlock()
	return diags
}

func (c *Connector) config() (connConfig, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.configured {
		return connConfig{}, errors.New("redshift: not configured")
	}
	return c.cfg, nil
}

func (c *Connector) session(ctx context.Context) (connConfig, session, error) {
	cfg, err := c.config()
	if err != nil {
		return cfg, nil, err
	}
	s, err := c.open(ctx, cfg)
	return cfg, s, err
}

// Check connects and runs SELECT 1.
func (c *Connector) Check(ctx context.Context) error {
	_, s, err := c.session(ctx)
	if err != nil {
		return err
	}
	defer s.Close(context.Background())
	_, err = s.Query(ctx, "SELECT 1")
	return err
}

// ListEntities lists the tables and views outside the system schemas, as
// schema.table.
func (c *Connector) ListEntities(ctx context.Context) ([]sdk.EntityInfo, error) {
	_, s, err := c.session(ctx)
	if err != nil {
		return nil, err
	}
	defer s.Close(context.Background())
	rows, err := s.Query(ctx, "SELECT CAST(table_schema AS VARCHAR), CAST(table_name AS VARCHAR), CAST(table_type AS VARCHAR)\n"+
		"FROM information_schema.tables\nWHERE table_schema NOT IN ('pg_catalog', 'information_schema', 'pg_internal')\n"+
		"AND table_schema NOT LIKE 'pg^_temp^_%' ESCAPE '^'\nORDER BY 1, 2")
	if err != nil {
		return nil, err
	}
	out := make([]sdk.EntityInfo, 0, len(rows))
	for _, r := range rows {
		out = append(out, sdk.EntityInfo{Name: r[0] + "." + r[1], Description: r[2]})
	}
	return out, nil
}

// OpenWriter starts a write stream into a table. It connects, checks the
// table against the records' schema (keys present, types compatible, the
// on_schema_change policy) and reports problems here, before any data.
func (c *Connector) OpenWriter(ctx context.Context, req sdk.WriteRequest) (sdk.Writer, error) {
	cfg, err := c.config()
	if err != nil {
		return nil, err
	}
	w, err := c.openWriter(ctx, cfg, req)
	if err != nil {
		return nil, fmt.Errorf("redshift: %w", err)
	}
	return w, nil
}
