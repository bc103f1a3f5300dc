package redshiftconn

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"

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

	// store uploads Redshift mode's staged files. Nil until the S3
	// connector provides one (see ObjectStore).
	store ObjectStore
	// open opens a pinned session; tests replace it.
	open func(ctx context.Context, cfg connConfig) (session, error)
	// newID names a write stream's staging tables and prefix.
	newID func() string
}

var (
	_ sdk.Connector       = (*Connector)(nil)
	_ sdk.Checker         = (*Connector)(nil)
	_ sdk.EntityLister    = (*Connector)(nil)
	_ sdk.EntityDescriber = (*Connector)(nil)
	_ sdk.Source          = (*Connector)(nil)
	_ sdk.Sink            = (*Connector)(nil)
)

// New returns an unconfigured Redshift connector.
func New() *Connector {
	return &Connector{
		open: func(ctx context.Context, cfg connConfig) (session, error) { return connect(ctx, cfg.dsn) },
		newID: func() string {
			var b [4]byte
			rand.Read(b[:])
			return hex.EncodeToString(b[:])
		},
	}
}

// Spec describes the connector and the attributes of its blocks.
func (c *Connector) Spec() sdk.Spec {
	return sdk.Spec{
		Name:    "redshift",
		Version: Version,
		Description: "Amazon Redshift (or PostgreSQL): bulk loads through staged gzip CSV and COPY with insert, upsert, " +
			"update and delete; reads of tables and queries with an incremental cursor.",
		Capabilities: []sdk.Capability{sdk.CapSource, sdk.CapSink, sdk.CapEntities, sdk.CapCheck},
		Connection:   sdk.ConfigSchema{Attributes: connectionAttributes},
		Source:       sdk.ConfigSchema{Attributes: sourceAttributes},
		Sink:         sdk.ConfigSchema{Attributes: sinkAttributes},
	}
}

// Configure checks and keeps the connection block. It does not connect:
// Check does.
func (c *Connector) Configure(ctx context.Context, config sdk.Values) sdk.Diagnostics {
	cfg, diags := parseConnConfig(config)
	if diags.HasErrors() {
		return diags
	}
	c.mu.Lock()
	c.cfg, c.configured = cfg, true
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
