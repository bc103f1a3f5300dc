package redshiftconn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/redshiftdata"
	"github.com/aws/aws-sdk-go-v2/service/redshiftdata/types"
)

// batcher is a session that cannot hold a transaction open between calls
// (the Data API has no pinned connection): a load's transaction goes to it
// whole, BEGIN to COMMIT, and runs serially in one database session, so
// temp tables live for the batch.
type batcher interface {
	session
	// Batch runs stmts in order as one transaction and returns, for each
	// statement that produced a result set, its rows (nil for the others).
	// When a statement fails the whole batch is rolled back and the error
	// is a *dataAPIError whose Index names it.
	Batch(ctx context.Context, stmts []string) ([][][]string, error)
}

// dataAPIClient is the part of *redshiftdata.Client the session uses.
type dataAPIClient interface {
	ExecuteStatement(ctx context.Context, in *redshiftdata.ExecuteStatementInput, opts ...func(*redshiftdata.Options)) (*redshiftdata.ExecuteStatementOutput, error)
	BatchExecuteStatement(ctx context.Context, in *redshiftdata.BatchExecuteStatementInput, opts ...func(*redshiftdata.Options)) (*redshiftdata.BatchExecuteStatementOutput, error)
	DescribeStatement(ctx context.Context, in *redshiftdata.DescribeStatementInput, opts ...func(*redshiftdata.Options)) (*redshiftdata.DescribeStatementOutput, error)
	GetStatementResult(ctx context.Context, in *redshiftdata.GetStatementResultInput, opts ...func(*redshiftdata.Options)) (*redshiftdata.GetStatementResultOutput, error)
	CancelStatement(ctx context.Context, in *redshiftdata.CancelStatementInput, opts ...func(*redshiftdata.Options)) (*redshiftdata.CancelStatementOutput, error)
}

// Polling of DescribeStatement: the first wait, doubled up to the last.
const (
	defaultPollFirst = 50 * time.Millisecond
	defaultPollMax   = 2 * time.Second
)

// dataAPISession is the session of transport = "data_api". Each Exec or
// Query is one ExecuteStatement in its own database session; Batch is one
// BatchExecuteStatement. Every call polls DescribeStatement with backoff
// until the statement ends.
type dataAPISession struct {
	client    dataAPIClient
	cluster   string
	workgroup string
	database  string
	secretARN string
	dbUser    string
	// secrets are replaced in every message (keys, token, secret ARN).
	secrets []string

	pollFirst, pollMax time.Duration
}

var _ batcher = (*dataAPISession)(nil)

func newDataAPISession(client dataAPIClient, cfg connConfig) *dataAPISession {
	s := &dataAPISession{client: client, cluster: cfg.clusterID, workgroup: cfg.workgroup, database: cfg.database,
		secretARN: cfg.secretARN, dbUser: cfg.dbUser, secrets: cfg.aws.secrets(),
		pollFirst: defaultPollFirst, pollMax: defaultPollMax}
	if cfg.secretARN != "" {
		s.secrets = append(s.secrets, cfg.secretARN)
	}
	return s
}

// dataAPIError is a statement the database refused (FAILED) or that was
// stopped (ABORTED).
type dataAPIError struct {
	Index   int    // within the batch; 0 for a single statement
	SQL     string // the statement
	Status  string
	Message string // Redshift's error text, secrets removed
}

func (e *dataAPIError) Error() string {
	first, _, _ := strings.Cut(e.SQL, "\n")
	if len(first) > 120 {
		first = first[:120] + "…"
	}
	if e.Message == "" {
		return fmt.Sprintf("%s: statement %s", first, strings.ToLower(e.Status))
	}
	return fmt.Sprintf("%s: %s", first, e.Message)
}

// serializable matches Redshift's serializable isolation violation, which
// the Data API reports as text: "ERROR: 1023 DETAIL: Serializable isolation
// violation on table …".
var serializable = regexp.MustCompile(`(?i)serializable isolation violation|\bERROR:\s*1023\b`)

// retryable reports a serialization conflict reported through the Data API.
func (e *dataAPIError) retryable() bool { return serializable.MatchString(e.Message) }

func (s *dataAPISession) Exec(ctx context.Context, sql string) error {
	switch strings.ToUpper(strings.TrimSpace(sql)) {
	case "BEGIN", "COMMIT", "ROLLBACK", "END":
		// Each call is its own database session: a transaction cannot
		// span calls. Loads send theirs whole through Batch.
		return fmt.Errorf("%s: the Data API cannot hold a transaction open across calls", sql)
	}
	_, err := s.run(ctx, sql, false)
	return err
}

func (s *dataAPISession) Query(ctx context.Context, sql string) ([][]string, error) {
	return s.run(ctx, sql, true)
}

func (s *dataAPISession) CopyFrom(ctx context.Context, r io.Reader, sql string) (int64, error) {
	return 0, errors.New("the Redshift Data API has no COPY … FROM STDIN")
}

func (s *dataAPISession) Closed() bool                    { return false }
func (s *dataAPISession) Close(ctx context.Context) error { return nil }

func (s *dataAPISession) run(ctx context.Context, sql string, rows bool) ([][]string, error) {
	id, hasRows, err := s.execute(ctx, sql, nil)
	if err != nil || !rows || !hasRows {
		return nil, err
	}
	return s.result(ctx, id, sql)
}

// execute runs one statement with ExecuteStatement and waits until it
// ends; it returns the statement's id and whether it has a result set.
func (s *dataAPISession) execute(ctx context.Context, sql string, params []types.SqlParameter) (string, bool, error) {
	out, err := s.client.ExecuteStatement(ctx, &redshiftdata.ExecuteStatementInput{Sql: aws.String(sql),
		ClusterIdentifier: opt(s.cluster), WorkgroupName: opt(s.workgroup), Database: opt(s.database),
		SecretArn: opt(s.secretARN), DbUser: opt(s.dbUser), Parameters: params})
	if err != nil {
		return "", false, s.wrap(ctx, err, "ExecuteStatement", sql)
	}
	d, err := s.wait(ctx, aws.ToString(out.Id), []string{sql})
	if err != nil {
		return "", false, err
	}
	return aws.ToString(out.Id), aws.ToBool(d.HasResultSet), nil
}

// Batch sends stmts in one BatchExecuteStatement.
func (s *dataAPISession) Batch(ctx context.Context, stmts []string) ([][][]string, error) {
	out, err := s.client.BatchExecuteStatement(ctx, &redshiftdata.BatchExecuteStatementInput{Sqls: stmts,
		ClusterIdentifier: opt(s.cluster), WorkgroupName: opt(s.workgroup), Database: opt(s.database),
		SecretArn: opt(s.secretARN), DbUser: opt(s.dbUser)})
	if err != nil {
		return nil, s.wrap(ctx, err, "BatchExecuteStatement", stmts[0])
	}
	d, err := s.wait(ctx, aws.ToString(out.Id), stmts)
	if err != nil {
		return nil, err
	}
	res := make([][][]string, len(stmts))
	for i, sub := range d.SubStatements {
		if i >= len(stmts) || !aws.ToBool(sub.HasResultSet) {
			continue
		}
		if res[i], err = s.result(ctx, aws.ToString(sub.Id), stmts[i]); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// wait polls DescribeStatement until the statement (or batch) ends: 50ms,
// doubling to 2s between polls. A cancelled context cancels the statement.
func (s *dataAPISession) wait(ctx context.Context, id string, stmts []string) (*redshiftdata.DescribeStatementOutput, error) {
	delay := s.pollFirst
	for {
		d, err := s.client.DescribeStatement(ctx, &redshiftdata.DescribeStatementInput{Id: aws.String(id)})
		if err != nil {
			if ctx.Err() != nil {
				s.cancel(id)
			}
			return nil, s.wrap(ctx, err, "DescribeStatement", stmts[0])
		}
		switch d.Status {
		case types.StatusStringFinished:
			return d, nil
		case types.StatusStringFailed, types.StatusStringAborted:
			return nil, s.failure(d, stmts)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			s.cancel(id)
			return nil, fmt.Errorf("%s: %w", firstLine(stmts[0]), ctx.Err())
		case <-t.C:
		}
		delay = min(delay*2, s.pollMax)
	}
}

// cancel stops a statement whose caller has given up (best effort).
func (s *dataAPISession) cancel(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.client.CancelStatement(ctx, &redshiftdata.CancelStatementInput{Id: aws.String(id)})
}

// failure names the statement that failed: for a batch, the sub-statement
// whose status is FAILED (else the first that did not finish).
func (s *dataAPISession) failure(d *redshiftdata.DescribeStatementOutput, stmts []string) error {
	e := &dataAPIError{SQL: stmts[0], Status: string(d.Status), Message: aws.ToString(d.Error)}
	idx := -1
	for i, sub := range d.SubStatements {
		if sub.Status == types.StatementStatusStringFailed || sub.Status == types.StatementStatusStringAborted {
			idx = i
			break
		}
	}
	if idx < 0 {
		for i, sub := range d.SubStatements {
			if sub.Status != types.StatementStatusStringFinished {
				idx = i
				break
			}
		}
	}
	if idx >= 0 && idx < len(stmts) {
		e.Index, e.SQL = idx, stmts[idx]
		if msg := aws.ToString(d.SubStatements[idx].Error); msg != "" {
			e.Message = msg
		}
	}
	e.Message = redactText(e.Message, s.secrets)
	return e
}

// result reads every page of a statement's result, each value as text the
// way the wire transport returns it (NULL as "", booleans t/f).
func (s *dataAPISession) result(ctx context.Context, id, sql string) ([][]string, error) {
	var rows [][]string
	err := s.pages(ctx, id, sql, func(_ []types.ColumnMetadata, records [][]types.Field) error {
		for _, rec := range records {
			row := make([]string, len(rec))
			for i, f := range rec {
				row[i] = fieldText(f)
			}
			rows = append(rows, row)
		}
		return nil
	})
	return rows, err
}

// pages reads a statement's result with GetStatementResult, page by page,
// handing each page (with the column metadata) to fn.
func (s *dataAPISession) pages(ctx context.Context, id, sql string, fn func(meta []types.ColumnMetadata, records [][]types.Field) error) error {
	var token *string
	for {
		out, err := s.client.GetStatementResult(ctx, &redshiftdata.GetStatementResultInput{Id: aws.String(id), NextToken: token})
		if err != nil {
			return s.wrap(ctx, err, "GetStatementResult", sql)
		}
		if err := fn(out.ColumnMetadata, out.Records); err != nil {
			return err
		}
		token = out.NextToken
		if aws.ToString(token) == "" {
			return nil
		}
	}
}

func fieldText(f types.Field) string {
	switch v := f.(type) {
	case *types.FieldMemberStringValue:
		return v.Value
	case *types.FieldMemberLongValue:
		return strconv.FormatInt(v.Value, 10)
	case *types.FieldMemberDoubleValue:
		return strconv.FormatFloat(v.Value, 'g', -1, 64)
	case *types.FieldMemberBooleanValue:
		if v.Value {
			return "t"
		}
		return "f"
	case *types.FieldMemberBlobValue:
		return string(v.Value)
	}
	return "" // IsNull
}

// wrap names the call and the statement; the SDK's text passes through
// with every secret replaced (the context's error stays visible to
// errors.Is).
func (s *dataAPISession) wrap(ctx context.Context, err error, op, sql string) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("%s: Data API %s: %w", firstLine(sql), op, cerr)
	}
	return fmt.Errorf("%s: Data API %s: %s", firstLine(sql), op, redactText(err.Error(), s.secrets))
}

func firstLine(sql string) string {
	first, _, _ := strings.Cut(sql, "\n")
	if len(first) > 120 {
		first = first[:120] + "…"
	}
	return first
}

func opt(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}
