package s3conn

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	"github.com/sluice-dev/sluice/sdk"
)

// Version is the connector's release, reported in its Spec.
const Version = "0.1.0"

// Connector reads and writes objects in S3 and S3-compatible stores. After
// Configure it holds one S3 client, safe for concurrent reads and writes.
type Connector struct {
	sdk.Unimplemented
	mem memory.Allocator

	client *s3.Client
	// credSource says where the credentials come from, for messages; it
	// never holds a secret.
	credSource string
	endpoint   string
	bucket     string // the connection's default bucket
}

var (
	_ sdk.Connector       = (*Connector)(nil)
	_ sdk.Checker         = (*Connector)(nil)
	_ sdk.EntityLister    = (*Connector)(nil)
	_ sdk.EntityDescriber = (*Connector)(nil)
	_ sdk.Source          = (*Connector)(nil)
	_ sdk.Sink            = (*Connector)(nil)
	_ sdk.EventSource     = (*Connector)(nil)
)

// New returns the S3 connector, unconfigured.
func New() *Connector { return &Connector{mem: memory.DefaultAllocator} }

// Spec describes the connector and its blocks' attributes.
func (c *Connector) Spec() sdk.Spec {
	return sdk.Spec{
		Name:         "s3",
		Version:      Version,
		Description:  "CSV, JSON Lines and Parquet objects in Amazon S3 and S3-compatible stores; new objects under a prefix as change events.",
		Capabilities: []sdk.Capability{sdk.CapSource, sdk.CapSink, sdk.CapEntities, sdk.CapCheck, sdk.CapEvents, sdk.CapPartitions},
		Connection:   sdk.ConfigSchema{Attributes: connectionAttributes},
		Source:       sdk.ConfigSchema{Attributes: sourceAttributes},
		Sink:         sdk.ConfigSchema{Attributes: sinkAttributes},
		Events:       sdk.ConfigSchema{Attributes: eventAttributes},
	}
}

var connectionAttributes = []sdk.Attribute{
	{Name: "region", Type: sdk.TypeString,
		Description: "AWS region. Default: from the environment or shared config, else us-east-1."},
	{Name: "endpoint", Type: sdk.TypeString,
		Description: "Custom endpoint URL of an S3-compatible store, e.g. http://127.0.0.1:7070."},
	{Name: "path_style", Type: sdk.TypeBool,
		Description: "Address buckets as endpoint/bucket rather than bucket.endpoint. Default: true when endpoint is set, false otherwise."},
	{Name: "unsigned_payload", Type: sdk.TypeBool, Default: false,
		Description: "Over plain http, sign requests without a SHA-256 of the body (as the SDK always does over https), which saves hashing every uploaded byte on both ends; the body is then not covered by the signature, so only for trusted networks. No effect over https."},
	{Name: "access_key_id", Type: sdk.TypeString,
		Description: "Static access key id; needs secret_access_key."},
	{Name: "secret_access_key", Type: sdk.TypeString, Sensitive: true,
		Description: "Static secret access key."},
	{Name: "session_token", Type: sdk.TypeString, Sensitive: true,
		Description: "Session token that goes with temporary static keys."},
	{Name: "profile", Type: sdk.TypeString,
		Description: "Shared config/credentials profile to take credentials from."},
	{Name: "role_arn", Type: sdk.TypeString,
		Description: "IAM role to assume with STS, starting from the other credentials (or the default chain)."},
	{Name: "external_id", Type: sdk.TypeString,
		Description: "External id the role's trust policy requires."},
	{Name: "bucket", Type: sdk.TypeString,
		Description: "Default bucket for source and sink blocks that name none; `sluice entities s3` lists its top-level prefixes (without it, the buckets)."},
	{Name: "max_attempts", Type: sdk.TypeInt, Default: int64(8),
		Description: "Attempts per request; throttling (503 SlowDown) and transient errors are retried with exponential backoff and jitter."},
	{Name: "retry_max_backoff", Type: sdk.TypeString, Default: "20s",
		Description: "Longest wait between two attempts, as a Go duration."},
}

// Configure builds the S3 client from the connection block. Without
// access keys, profile or role it uses the default AWS credential chain:
// environment, shared config and credentials files, web identity, ECS and
// instance metadata.
func (c *Connector) Configure(ctx context.Context, v sdk.Values) sdk.Diagnostics {
	var diags sdk.Diagnostics
	ak, sk := v.String("access_key_id", ""), v.String("secret_access_key", "")
	if (ak == "") != (sk == "") {
		path := "secret_access_key"
		if ak == "" {
			path = "access_key_id"
		}
		diags = append(diags, sdk.Errorf([]string{path}, "incomplete static credentials", "access_key_id and secret_access_key go together"))
	}
	if ak != "" && v.String("profile", "") != "" {
		diags = append(diags, sdk.Errorf([]string{"profile"}, "two credential sources", "set either static keys or a profile, not both"))
	}
	if v.String("external_id", "") != "" && v.String("role_arn", "") == "" {
		diags = append(diags, sdk.Errorf([]string{"external_id"}, "external_id needs role_arn", "an external id only applies to an assumed role"))
	}
	backoff, err := time.ParseDuration(v.String("retry_max_backoff", "20s"))
	if err != nil || backoff <= 0 {
		diags = append(diags, sdk.Errorf([]string{"retry_max_backoff"}, "not a duration", "%q: want a Go duration such as 20s", v.String("retry_max_backoff", "")))
	}
	attempts := int(v.Int("max_attempts", 8))
	if attempts < 1 {
		diags = append(diags, sdk.Errorf([]string{"max_attempts"}, "must be at least 1", "got %d", attempts))
	}
	if diags.HasErrors() {
		return diags
	}

	endpoint := v.String("endpoint", "")
	opts := []func(*config.LoadOptions) error{
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = attempts
				o.MaxBackoff = backoff
				// The client-side retry quota would stop retrying a
				// throttled bulk load after a handful of 503s; the
				// backoff already spaces the attempts.
				o.RateLimiter = ratelimit.None
			})
		}),
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
	}
	if r := v.String("region", ""); r != "" {
		opts = append(opts, config.WithRegion(r))
	}
	source := "the default credential chain (environment, shared config, web identity, instance metadata)"
	switch {
	case ak != "":
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(ak, sk, v.String("session_token", ""))))
		source = fmt.Sprintf("static keys (access_key_id %q)", ak)
	case v.String("profile", "") != "":
		opts = append(opts, config.WithSharedConfigProfile(v.String("profile", "")))
		source = fmt.Sprintf("shared config profile %q", v.String("profile", ""))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return sdk.Diagnostics{sdk.Errorf(nil, "cannot load AWS configuration", "%s: %v", source, err)}
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if role := v.String("role_arn", ""); role != "" {
		stsClient := sts.NewFromConfig(cfg)
		prov := stscreds.NewAssumeRoleProvider(stsClient, role, func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = "sluice"
			if id := v.String("external_id", ""); id != "" {
				o.ExternalID = aws.String(id)
			}
		})
		cfg.Credentials = aws.NewCredentialsCache(prov)
		source = fmt.Sprintf("assumed role %q (starting from %s)", role, source)
	}
	pathStyle := v.Bool("path_style", endpoint != "")
	c.bucket = v.String("bucket", "")
	c.client = s3.NewFromConfig(cfg, func(o *s3.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
		o.UsePathStyle = pathStyle
		if v.Bool("unsigned_payload", false) {
			o.APIOptions = append(o.APIOptions, UnsignedPayload)
		}
	})
	c.credSource = source
	c.endpoint = endpoint
	if c.endpoint == "" {
		c.endpoint = "AWS S3 in " + cfg.Region
	}
	return nil
}

// UnsignedPayload is an s3.Options APIOption that signs a request with
// the UNSIGNED-PAYLOAD placeholder instead of the body's SHA-256. The SDK
// does that by itself over https, where TLS protects the body; over plain
// http it hashes every byte of every PutObject and UploadPart (about 0.6
// CPU-seconds per GB on a 2-core VM) and the server hashes them again to
// check. Dropping the hash leaves the body unprotected against tampering
// in transit, so it is the user's call: the connection's unsigned_payload
// turns it on; the default stays the SDK's. An operation that requires a
// checksum (DeleteObjects) stays signed: the SDK's checksum pass hashes
// the body on the way and settles the signature before this applies.
func UnsignedPayload(stack *middleware.Stack) error {
	if _, ok := stack.Finalize.Get("ComputePayloadHash"); !ok {
		return nil // an operation that signs no payload
	}
	return v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware(stack)
}

func (c *Connector) ready() error {
	if c.client == nil {
		return errors.New("s3: the connector is not configured")
	}
	return nil
}

// Check lists buckets, which proves the endpoint answers and accepts the
// credentials.
func (c *Connector) Check(ctx context.Context) error {
	if err := c.ready(); err != nil {
		return err
	}
	_, err := c.client.ListBuckets(ctx, &s3.ListBucketsInput{MaxBuckets: aws.Int32(1)})
	return c.wrap(err, "list buckets", "", "")
}

// ListEntities lists the top-level prefixes of the connection's bucket,
// or, without one, the buckets the credentials can see.
func (c *Connector) ListEntities(ctx context.Context) ([]sdk.EntityInfo, error) {
	if err := c.ready(); err != nil {
		return nil, err
	}
	if c.bucket != "" {
		return c.ListPrefixes(ctx, c.bucket, "")
	}
	out, err := c.client.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil {
		return nil, c.wrap(err, "list buckets", "", "")
	}
	var ents []sdk.EntityInfo
	for _, b := range out.Buckets {
		ents = append(ents, sdk.EntityInfo{Name: aws.ToString(b.Name), Description: "bucket"})
	}
	return ents, nil
}

// ListPrefixes lists the top-level prefixes (and objects) of bucket under
// prefix, as s3://bucket/prefix/ names.
func (c *Connector) ListPrefixes(ctx context.Context, bucket, prefix string) ([]sdk.EntityInfo, error) {
	if err := c.ready(); err != nil {
		return nil, err
	}
	var ents []sdk.EntityInfo
	p := s3.NewListObjectsV2Paginator(c.client, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix), Delimiter: aws.String("/")})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, c.wrap(err, "list", bucket, prefix)
		}
		for _, cp := range page.CommonPrefixes {
			ents = append(ents, sdk.EntityInfo{Name: "s3://" + bucket + "/" + aws.ToString(cp.Prefix), Description: "prefix"})
		}
		for _, o := range page.Contents {
			ents = append(ents, sdk.EntityInfo{Name: "s3://" + bucket + "/" + aws.ToString(o.Key), Description: fmt.Sprintf("object, %d bytes", aws.ToInt64(o.Size))})
		}
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].Name < ents[j].Name })
	return ents, nil
}

// wrap turns an S3 error into a message that names the bucket, the key
// and, for refused credentials, where they came from, never the secret.
func (c *Connector) wrap(err error, op, bucket, key string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	where := ""
	switch {
	case bucket != "" && key != "":
		where = " s3://" + bucket + "/" + key
	case bucket != "":
		where = " s3://" + bucket
	}
	var apiErr smithy.APIError
	code := ""
	if errors.As(err, &apiErr) {
		code = apiErr.ErrorCode()
	}
	status := 0
	var respErr interface{ HTTPStatusCode() int }
	if errors.As(err, &respErr) {
		status = respErr.HTTPStatusCode()
	}
	switch {
	case code == "NoSuchBucket":
		return fmt.Errorf("s3: bucket %q does not exist at %s (%s)", bucket, c.endpoint, op)
	case code == "InvalidAccessKeyId" || code == "SignatureDoesNotMatch" || code == "InvalidToken" ||
		code == "ExpiredToken" || code == "InvalidClientTokenId" || code == "UnrecognizedClientException":
		return fmt.Errorf("s3: %s%s: %s refused the credentials from %s (%s)", op, where, c.endpoint, c.credSource, code)
	case code == "AccessDenied" || status == http.StatusForbidden:
		return fmt.Errorf("s3: %s%s: access denied for the credentials from %s", op, where, c.credSource)
	case code == "NoSuchKey":
		return fmt.Errorf("s3: %s%s: no such object", op, where)
	}
	if strings.Contains(err.Error(), "failed to retrieve credentials") || strings.Contains(err.Error(), "failed to refresh cached credentials") {
		return fmt.Errorf("s3: %s%s: no usable credentials from %s: %v", op, where, c.credSource, err)
	}
	return fmt.Errorf("s3: %s%s: %w", op, where, err)
}
