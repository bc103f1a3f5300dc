package redshiftconn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/redshiftdata"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

// awsConfig is the AWS identity of a connection: the one that uploads the
// staged files and, with transport = "data_api", calls the Data API. The
// attribute names are the S3 connector's.
type awsConfig struct {
	region       string // the staging bucket's region (also COPY's REGION)
	s3Endpoint   string
	accessKeyID  string
	secretKey    string
	sessionToken string
	profile      string
	roleARN      string
	externalID   string

	// Data API
	clusterRegion   string
	dataAPIEndpoint string
}

// secrets are the values no message may contain.
func (a awsConfig) secrets() []string {
	var out []string
	for _, s := range []string{a.secretKey, a.sessionToken} {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// load builds the aws-sdk-go-v2 configuration: static keys, a shared
// config profile, or the default chain (environment, shared files, web
// identity, ECS and instance metadata); then role_arn, assumed with STS
// starting from those. source says where the credentials come from, for
// messages; it never holds a secret.
func (a awsConfig) load(ctx context.Context, region string) (cfg aws.Config, source string, err error) {
	opts := []func(*config.LoadOptions) error{
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
	}
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	source = "the default credential chain (environment, shared config, web identity, instance metadata)"
	switch {
	case a.accessKeyID != "":
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(a.accessKeyID, a.secretKey, a.sessionToken)))
		source = fmt.Sprintf("static keys (access_key_id %q)", a.accessKeyID)
	case a.profile != "":
		opts = append(opts, config.WithSharedConfigProfile(a.profile))
		source = fmt.Sprintf("shared config profile %q", a.profile)
	}
	cfg, err = config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return cfg, source, fmt.Errorf("cannot load the AWS configuration from %s: %v", source, redactText(err.Error(), a.secrets()))
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if a.roleARN != "" {
		prov := stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), a.roleARN, func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = "sluice-redshift"
			if a.externalID != "" {
				o.ExternalID = aws.String(a.externalID)
			}
		})
		cfg.Credentials = aws.NewCredentialsCache(prov)
		source = fmt.Sprintf("assumed role %q (starting from %s)", a.roleARN, source)
	}
	return cfg, source, nil
}

// newDataAPIClient is the Redshift Data API client of a connection.
func (a awsConfig) newDataAPIClient(ctx context.Context) (*redshiftdata.Client, string, error) {
	region := a.clusterRegion
	if region == "" {
		region = a.region
	}
	cfg, source, err := a.load(ctx, region)
	if err != nil {
		return nil, source, err
	}
	return redshiftdata.NewFromConfig(cfg, func(o *redshiftdata.Options) {
		if a.dataAPIEndpoint != "" {
			o.BaseEndpoint = aws.String(a.dataAPIEndpoint)
		}
	}), source, nil
}

// s3Store is the ObjectStore of Redshift mode: the staging bucket through
// aws-sdk-go-v2.
type s3Store struct {
	client   *s3.Client
	endpoint string // for messages
	source   string // where the credentials come from, for messages
	secrets  []string
}

var _ ObjectStore = (*s3Store)(nil)

// newS3Store builds the staging bucket's client. With s3_endpoint (an
// S3-compatible store) buckets are addressed path-style.
func newS3Store(ctx context.Context, a awsConfig) (*s3Store, error) {
	cfg, source, err := a.load(ctx, a.region)
	if err != nil {
		return nil, err
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if a.s3Endpoint != "" {
			o.BaseEndpoint = aws.String(a.s3Endpoint)
			o.UsePathStyle = true
		}
	})
	endpoint := a.s3Endpoint
	if endpoint == "" {
		endpoint = "AWS S3 in " + cfg.Region
	}
	return &s3Store{client: client, endpoint: endpoint, source: source, secrets: a.secrets()}, nil
}

// splitS3URL splits s3://bucket/key.
func splitS3URL(u string) (bucket, key string, err error) {
	rest, ok := strings.CutPrefix(u, "s3://")
	if !ok {
		return "", "", fmt.Errorf("%q is not an s3:// URL", u)
	}
	bucket, key, _ = strings.Cut(rest, "/")
	if bucket == "" {
		return "", "", fmt.Errorf("%q names no bucket", u)
	}
	return bucket, key, nil
}

// Put uploads r in one PutObject (a part is at most part_size of CSV,
// compressed: well under S3's 5 GB limit for one request). r should be
// seekable (a file, a bytes.Reader): the request is signed over its
// contents and retried from the start.
func (s *s3Store) Put(ctx context.Context, url string, r io.Reader, size int64) error {
	bucket, key, err := splitS3URL(url)
	if err != nil {
		return err
	}
	_, err = s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
		Body: r, ContentLength: aws.Int64(size)})
	return s.wrap(err, "upload", bucket, key)
}

// Delete removes urls, grouped by bucket, at most 1000 keys per request.
func (s *s3Store) Delete(ctx context.Context, urls []string) error {
	byBucket := map[string][]types.ObjectIdentifier{}
	var order []string
	for _, u := range urls {
		bucket, key, err := splitS3URL(u)
		if err != nil {
			return err
		}
		if _, ok := byBucket[bucket]; !ok {
			order = append(order, bucket)
		}
		byBucket[bucket] = append(byBucket[bucket], types.ObjectIdentifier{Key: aws.String(key)})
	}
	var errs []error
	for _, bucket := range order {
		ids := byBucket[bucket]
		for len(ids) > 0 {
			n := min(len(ids), 1000)
			out, err := s.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(bucket),
				Delete: &types.Delete{Objects: ids[:n], Quiet: aws.Bool(true)}})
			if err != nil {
				errs = append(errs, s.wrap(err, "delete", bucket, ""))
			} else {
				for _, e := range out.Errors {
					errs = append(errs, fmt.Errorf("delete s3://%s/%s: %s %s", bucket, aws.ToString(e.Key), aws.ToString(e.Code), aws.ToString(e.Message)))
				}
			}
			ids = ids[n:]
		}
	}
	return errors.Join(errs...)
}

// wrap turns an S3 error into a message that names the bucket and key and,
// for refused credentials, where they came from; never a secret.
func (s *s3Store) wrap(err error, op, bucket, key string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	where := "s3://" + bucket
	if key != "" {
		where += "/" + key
	}
	code := ""
	var apiErr smithy.APIError
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
		return fmt.Errorf("staging bucket %q does not exist at %s (%s %s)", bucket, s.endpoint, op, where)
	case code == "InvalidAccessKeyId" || code == "SignatureDoesNotMatch" || code == "InvalidToken" ||
		code == "ExpiredToken" || code == "InvalidClientTokenId":
		return fmt.Errorf("%s %s: %s refused the credentials from %s (%s)", op, where, s.endpoint, s.source, code)
	case code == "AccessDenied" || status == http.StatusForbidden:
		return fmt.Errorf("%s %s: access denied for the credentials from %s", op, where, s.source)
	}
	return fmt.Errorf("%s %s: %s", op, where, redactText(err.Error(), s.secrets))
}

// redactText replaces every secret in s.
func redactText(s string, secrets []string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return s
}
