package redshiftconn

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/sluice-dev/sluice/sdk"
)

// Modes and transports.
const (
	ModeRedshift = "redshift"
	ModePostgres = "postgres"

	TransportWire    = "wire"
	TransportDataAPI = "data_api"
)

// Schema-change policies (sink attribute on_schema_change).
const (
	SchemaAddColumns = "add_columns"
	SchemaFail       = "fail"
	SchemaIgnore     = "ignore"
)

const defaultPartSize = 256 << 20

var connectionAttributes = []sdk.Attribute{
	{Name: "dsn", Type: sdk.TypeString, Sensitive: true,
		Description: "postgres://user:password@host:port/db?sslmode=require — the wire transport's connection URL (Redshift listens on 5439). TLS follows sslmode. Required unless transport = \"data_api\"."},
	{Name: "mode", Type: sdk.TypeString, Default: ModeRedshift,
		Description: "redshift (COPY from S3 staging, Redshift's SQL) or postgres (the same staged files fed through COPY … FROM STDIN, for PostgreSQL-compatible targets)."},
	{Name: "staging", Type: sdk.TypeString,
		Description: "Redshift mode: the s3://bucket/prefix/ under which each load's gzip CSV parts and manifest are written."},
	{Name: "iam_role", Type: sdk.TypeString,
		Description: "Redshift mode: the IAM role ARN COPY uses to read the staging location (\"default\" for the cluster's default role)."},
	{Name: "region", Type: sdk.TypeString,
		Description: "Redshift mode: the staging bucket's region, when it differs from the cluster's."},
	{Name: "transport", Type: sdk.TypeString, Default: TransportWire,
		Description: "wire (PostgreSQL protocol through pgx) or data_api (the Redshift Data API; not implemented yet)."},
	{Name: "cluster_identifier", Type: sdk.TypeString, Description: "Data API: the provisioned cluster."},
	{Name: "workgroup_name", Type: sdk.TypeString, Description: "Data API: the Serverless workgroup."},
	{Name: "database", Type: sdk.TypeString, Description: "Data API: the database."},
	{Name: "secret_arn", Type: sdk.TypeString, Sensitive: true, Description: "Data API: the Secrets Manager secret holding the credentials."},
}

var sinkAttributes = []sdk.Attribute{
	{Name: "table", Type: sdk.TypeString, Required: true, Entity: true,
		Description: "The target table, table or schema.table; names fold to lower case, as Redshift folds them."},
	{Name: "on_schema_change", Type: sdk.TypeString, Default: SchemaAddColumns,
		Description: "What a field missing from the table does: add_columns (ALTER TABLE … ADD COLUMN, nullable, one per statement), fail, or ignore (the field is not loaded). Existing column types are never changed."},
	{Name: "create_table", Type: sdk.TypeBool, Default: true,
		Description: "Create the table, with every column nullable, when it does not exist."},
	{Name: "keep_staging", Type: sdk.TypeBool, Default: false,
		Description: "Keep the staged gzip CSV parts and the manifest after a successful load (they are always removed when nothing was committed)."},
	{Name: "distkey", Type: sdk.TypeString, Description: "Redshift: DISTKEY column of a table the loader creates."},
	{Name: "sortkey", Type: sdk.TypeStringList, Description: "Redshift: SORTKEY columns of a table the loader creates."},
	{Name: "truncate_nanoseconds", Type: sdk.TypeBool, Default: false,
		Description: "Drop sub-microsecond digits of timestamps, times and durations instead of rejecting the row (both databases keep microseconds)."},
	{Name: "part_size", Type: sdk.TypeInt, Default: int64(defaultPartSize),
		Description: "Uncompressed bytes of CSV after which a staged part is finished and the next begun."},
	{Name: "max_retries", Type: sdk.TypeInt, Default: int64(5),
		Description: "How often a load that hit a serialization conflict (SQLSTATE 40001, 40P01, Redshift 1023) is retried, with backoff."},
}

var sourceAttributes = []sdk.Attribute{
	{Name: "table", Type: sdk.TypeString, Entity: true,
		Description: "The table to read (table or schema.table). Set table or query."},
	{Name: "query", Type: sdk.TypeString,
		Description: "A SELECT to read instead of a table; it is wrapped as a subquery."},
	{Name: "cursor", Type: sdk.TypeString,
		Description: "A column that only grows (updated_at, an id): reads go in its order, checkpoint its last value and resume after it."},
}

// connConfig is the evaluated connection block.
type connConfig struct {
	dsn       string
	mode      string
	staging   string
	iamRole   string
	region    string
	transport string
}

func (c connConfig) dialect() dialect {
	if c.mode == ModePostgres {
		return postgresDialect
	}
	return redshiftDialect
}

func parseConnConfig(v sdk.Values) (connConfig, sdk.Diagnostics) {
	c := connConfig{
		dsn:       v.String("dsn", ""),
		mode:      v.String("mode", ModeRedshift),
		staging:   v.String("staging", ""),
		iamRole:   v.String("iam_role", ""),
		region:    v.String("region", ""),
		transport: v.String("transport", TransportWire),
	}
	var diags sdk.Diagnostics
	switch c.mode {
	case ModeRedshift, ModePostgres:
	default:
		diags = append(diags, sdk.Errorf([]string{"mode"}, "unknown mode", "%q: want %q or %q", c.mode, ModeRedshift, ModePostgres))
	}
	switch c.transport {
	case TransportWire:
		if c.dsn == "" {
			diags = append(diags, sdk.Errorf([]string{"dsn"}, "missing dsn", "the wire transport needs a postgres:// URL"))
		} else if u, err := url.Parse(c.dsn); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			diags = append(diags, sdk.Errorf([]string{"dsn"}, "invalid dsn", "want a postgres://user:password@host:port/db URL"))
		}
	case TransportDataAPI:
		diags = append(diags, sdk.Errorf([]string{"transport"}, "not implemented",
			"the Redshift Data API transport is not implemented yet; use transport = %q with a dsn", TransportWire))
	default:
		diags = append(diags, sdk.Errorf([]string{"transport"}, "unknown transport", "%q: want %q or %q", c.transport, TransportWire, TransportDataAPI))
	}
	if c.staging != "" {
		if !strings.HasPrefix(c.staging, "s3://") {
			diags = append(diags, sdk.Errorf([]string{"staging"}, "invalid staging location", "%q: want s3://bucket/prefix/", c.staging))
		} else if strings.ContainsAny(c.staging, `'\`) {
			diags = append(diags, sdk.Errorf([]string{"staging"}, "invalid staging location", "quotes and backslashes are not supported"))
		}
	}
	if strings.ContainsAny(c.iamRole+c.region, `'\`) {
		diags = append(diags, sdk.Errorf([]string{"iam_role"}, "invalid value", "quotes and backslashes are not supported"))
	}
	return c, diags
}

// sinkOptions are the evaluated sink block plus the engine's mode and keys.
type sinkOptions struct {
	table          string
	onSchemaChange string
	createTable    bool
	keepStaging    bool
	distKey        string
	sortKey        []string
	truncateNanos  bool
	partSize       int64
	maxRetries     int
}

func parseSinkOptions(v sdk.Values, entity string) (sinkOptions, error) {
	o := sinkOptions{
		table:          entity,
		onSchemaChange: v.String("on_schema_change", SchemaAddColumns),
		createTable:    v.Bool("create_table", true),
		keepStaging:    v.Bool("keep_staging", false),
		distKey:        v.String("distkey", ""),
		sortKey:        v.Strings("sortkey"),
		truncateNanos:  v.Bool("truncate_nanoseconds", false),
		partSize:       v.Int("part_size", defaultPartSize),
		maxRetries:     int(v.Int("max_retries", 5)),
	}
	if o.table == "" {
		o.table = v.String("table", "")
	}
	if o.table == "" {
		return o, fmt.Errorf("table: a sink needs a table")
	}
	switch o.onSchemaChange {
	case SchemaAddColumns, SchemaFail, SchemaIgnore:
	default:
		return o, fmt.Errorf("on_schema_change: %q: want %s, %s or %s", o.onSchemaChange, SchemaAddColumns, SchemaFail, SchemaIgnore)
	}
	if o.partSize < 1<<20 {
		o.partSize = 1 << 20
	}
	if o.maxRetries < 0 {
		o.maxRetries = 0
	}
	return o, nil
}
