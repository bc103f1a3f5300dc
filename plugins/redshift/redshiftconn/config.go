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

// defaultMaxLoadErrors bounds the rows one load may refuse, and so the
// refused rows Commit holds and returns, while a bad batch still fails
// instead of loading a trickle.
const defaultMaxLoadErrors = 1000

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
		Description: "Redshift mode: the staging bucket's region. The uploads use it, and COPY names it (REGION) so the cluster can read a bucket in another region. Default: from the environment or shared config, else us-east-1."},
	{Name: "s3_endpoint", Type: sdk.TypeString,
		Description: "Redshift mode: custom endpoint URL of an S3-compatible store for the uploads (buckets are then addressed path-style). COPY itself always reads S3."},
	{Name: "access_key_id", Type: sdk.TypeString,
		Description: "Static AWS access key id for the staging uploads and the Data API; needs secret_access_key. Without keys, profile or role_arn: the default AWS credential chain."},
	{Name: "secret_access_key", Type: sdk.TypeString, Sensitive: true,
		Description: "Static AWS secret access key."},
	{Name: "session_token", Type: sdk.TypeString, Sensitive: true,
		Description: "Session token that goes with temporary static keys."},
	{Name: "profile", Type: sdk.TypeString,
		Description: "Shared config/credentials profile to take the AWS credentials from."},
	{Name: "role_arn", Type: sdk.TypeString,
		Description: "IAM role to assume with STS, starting from the other credentials (or the default chain), for the uploads and the Data API. COPY reads the files with iam_role, not this."},
	{Name: "external_id", Type: sdk.TypeString,
		Description: "External id the role's trust policy requires."},
	{Name: "transport", Type: sdk.TypeString, Default: TransportWire,
		Description: "wire (PostgreSQL protocol through pgx, with dsn) or data_api (the Redshift Data API: each load is one BatchExecuteStatement; Redshift mode only; reads run the same SELECT through ExecuteStatement)."},
	{Name: "cluster_identifier", Type: sdk.TypeString, Description: "Data API: the provisioned cluster (or set workgroup_name)."},
	{Name: "workgroup_name", Type: sdk.TypeString, Description: "Data API: the Serverless workgroup (or set cluster_identifier)."},
	{Name: "database", Type: sdk.TypeString, Description: "Data API: the database."},
	{Name: "secret_arn", Type: sdk.TypeString, Sensitive: true, Description: "Data API: the Secrets Manager secret holding the database credentials. Without it (and without db_user) the database user derives from the IAM identity."},
	{Name: "db_user", Type: sdk.TypeString, Description: "Data API, provisioned cluster: the database user to get temporary credentials for (redshift:GetClusterCredentials), instead of secret_arn."},
	{Name: "cluster_region", Type: sdk.TypeString, Description: "Data API: the cluster's or workgroup's region, when it differs from region."},
	{Name: "data_api_endpoint", Type: sdk.TypeString, Description: "Data API: custom endpoint URL (a VPC endpoint, a test server)."},
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
	{Name: "max_load_errors", Type: sdk.TypeInt, Default: int64(defaultMaxLoadErrors),
		Description: "Redshift mode, in flows that continue on error: how many rows COPY may refuse (MAXERROR, at most 100000) while the rest of the load commits; the refused rows are dead-lettered with Redshift's reason. One more fails the whole load. 0 fails on the first, as do flows that fail on error."},
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

	aws awsConfig
	// Data API target
	clusterID string
	workgroup string
	database  string
	secretARN string
	dbUser    string
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
		clusterID: v.String("cluster_identifier", ""),
		workgroup: v.String("workgroup_name", ""),
		database:  v.String("database", ""),
		secretARN: v.String("secret_arn", ""),
		dbUser:    v.String("db_user", ""),
	}
	c.aws = awsConfig{
		region:          c.region,
		s3Endpoint:      v.String("s3_endpoint", ""),
		accessKeyID:     v.String("access_key_id", ""),
		secretKey:       v.String("secret_access_key", ""),
		sessionToken:    v.String("session_token", ""),
		profile:         v.String("profile", ""),
		roleARN:         v.String("role_arn", ""),
		externalID:      v.String("external_id", ""),
		clusterRegion:   v.String("cluster_region", ""),
		dataAPIEndpoint: v.String("data_api_endpoint", ""),
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
		diags = append(diags, c.checkDataAPI()...)
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
	a := c.aws
	if (a.accessKeyID == "") != (a.secretKey == "") {
		p := "secret_access_key"
		if a.accessKeyID == "" {
			p = "access_key_id"
		}
		diags = append(diags, sdk.Errorf([]string{p}, "incomplete static credentials", "access_key_id and secret_access_key go together"))
	}
	if a.accessKeyID != "" && a.profile != "" {
		diags = append(diags, sdk.Errorf([]string{"profile"}, "two credential sources", "set either static keys or a profile, not both"))
	}
	if a.externalID != "" && a.roleARN == "" {
		diags = append(diags, sdk.Errorf([]string{"external_id"}, "external_id needs role_arn", "an external id only applies to an assumed role"))
	}
	return c, diags
}

// checkDataAPI checks the Data API's target: one of cluster_identifier and
// workgroup_name, a database, and at most one of secret_arn and db_user.
func (c connConfig) checkDataAPI() sdk.Diagnostics {
	var diags sdk.Diagnostics
	if c.mode != ModeRedshift {
		diags = append(diags, sdk.Errorf([]string{"transport"}, "data_api needs redshift mode",
			"the Data API has no COPY … FROM STDIN; postgres mode needs the wire transport"))
	}
	switch {
	case c.clusterID == "" && c.workgroup == "":
		diags = append(diags, sdk.Errorf([]string{"cluster_identifier"}, "missing target", "the Data API needs cluster_identifier or workgroup_name"))
	case c.clusterID != "" && c.workgroup != "":
		diags = append(diags, sdk.Errorf([]string{"workgroup_name"}, "two targets", "set cluster_identifier or workgroup_name, not both"))
	}
	if c.database == "" {
		diags = append(diags, sdk.Errorf([]string{"database"}, "missing database", "the Data API needs the database name"))
	}
	if c.secretARN != "" && c.dbUser != "" {
		diags = append(diags, sdk.Errorf([]string{"db_user"}, "two database credentials", "set secret_arn or db_user, not both"))
	}
	if c.dbUser != "" && c.workgroup != "" {
		diags = append(diags, sdk.Errorf([]string{"db_user"}, "db_user needs a cluster", "on Serverless the database user derives from the IAM identity; use secret_arn or neither"))
	}
	if c.dsn != "" {
		diags = append(diags, sdk.Diagnostic{Severity: sdk.SeverityWarning, Path: []string{"dsn"}, Summary: "dsn unused",
			Detail: "the Data API transport does not use the dsn"})
	}
	return diags
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
	maxLoadErrors  int
	// deletes is the engine's: apply change-event deletes (WriteRequest.Deletes).
	deletes bool
}

// attributeError is a bad value of attribute attr, which the engine
// places on that attribute's line.
func attributeError(attr, format string, args ...any) error {
	return &sdk.AttributeError{Attribute: attr, Err: fmt.Errorf(format, args...)}
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
	maxLoadErrors := v.Int("max_load_errors", defaultMaxLoadErrors)
	if maxLoadErrors < 0 || maxLoadErrors > maxMaxErrors {
		return o, attributeError("max_load_errors", "%d: want 0 to %d (Redshift's MAXERROR limit)", maxLoadErrors, maxMaxErrors)
	}
	o.maxLoadErrors = int(maxLoadErrors)
	if o.table == "" {
		o.table = v.String("table", "")
	}
	if o.table == "" {
		return o, attributeError("table", "a sink needs a table")
	}
	switch o.onSchemaChange {
	case SchemaAddColumns, SchemaFail, SchemaIgnore:
	default:
		return o, attributeError("on_schema_change", "%q: want %s, %s or %s", o.onSchemaChange, SchemaAddColumns, SchemaFail, SchemaIgnore)
	}
	if o.partSize < 1<<20 {
		o.partSize = 1 << 20
	}
	if o.maxRetries < 0 {
		o.maxRetries = 0
	}
	return o, nil
}
