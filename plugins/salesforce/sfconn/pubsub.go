package sfconn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/sluice-dev/sluice/plugins/salesforce/eventbusv1"
)

// DefaultPubSubEndpoint is Salesforce's Pub/Sub API.
const DefaultPubSubEndpoint = "api.pubsub.salesforce.com:7443"

// maxEventMessage bounds one FetchResponse: events are up to 1 MB each and
// a response may carry many, well past gRPC's 4 MB default.
const maxEventMessage = 128 << 20

// pubsub is one gRPC connection to the Pub/Sub API.
type pubsub struct {
	cl       *client
	conn     *grpc.ClientConn
	api      eventbusv1.PubSubClient
	endpoint string
}

func (c *Connector) dialPubSub() (*pubsub, error) {
	cfg := c.cl.cfg
	creds := insecure.NewCredentials()
	if !cfg.pubsubInsecure {
		host, _, _ := net.SplitHostPort(cfg.pubsubEndpoint)
		creds = credentials.NewTLS(&tls.Config{ServerName: host, MinVersion: tls.VersionTLS12, RootCAs: c.pubsubRoots})
	}
	conn, err := grpc.NewClient(cfg.pubsubEndpoint, grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxEventMessage)))
	if err != nil {
		return nil, fmt.Errorf("salesforce: Pub/Sub API at %s: %w", cfg.pubsubEndpoint, err)
	}
	return &pubsub{cl: c.cl, conn: conn, api: eventbusv1.NewPubSubClient(conn), endpoint: cfg.pubsubEndpoint}, nil
}

func (p *pubsub) close() { _ = p.conn.Close() }

// rpcContext carries the session as the metadata every Pub/Sub call needs;
// gen identifies the token, for relogin.
func (p *pubsub) rpcContext(ctx context.Context) (context.Context, uint64, error) {
	tok, inst, org, gen, err := p.cl.pubsubSession(ctx)
	if err != nil {
		return nil, 0, err
	}
	md := metadata.Pairs("accesstoken", tok, "instanceurl", inst, "tenantid", org)
	return metadata.NewOutgoingContext(ctx, md), gen, nil
}

// errKind is what to do about a Pub/Sub error.
type errKind int

const (
	errFatal  errKind = iota
	errRetry          // the stream or call broke: back off and go again
	errAuth           // the session was refused: sign in again, once
	errReplay         // the replay id is expired or corrupted
)

func (k errKind) String() string {
	return [...]string{"fatal", "retry", "auth", "replay"}[k]
}

// pubsubError is a failed Pub/Sub call, with Salesforce's error-code
// trailer when there was one.
type pubsubError struct {
	op   string
	code string
	err  error
}

func (e *pubsubError) Error() string {
	msg := e.err.Error()
	if st, ok := status.FromError(e.err); ok {
		msg = st.Code().String() + ": " + st.Message()
	}
	if e.code != "" && !strings.Contains(msg, e.code) {
		msg += " (" + e.code + ")"
	}
	return "salesforce: Pub/Sub " + e.op + ": " + msg
}

func (e *pubsubError) Unwrap() error { return e.err }

// newPubsubError reads the error-code trailer (Salesforce's precise
// reason: sfdc.platform.eventbus.grpc.…).
func newPubsubError(op string, err error, trailer metadata.MD) *pubsubError {
	e := &pubsubError{op: op, err: err}
	if v := trailer.Get("error-code"); len(v) > 0 {
		e.code = v[0]
	}
	return e
}

// classify sorts an error of a Pub/Sub call or stream. A stream that just
// ends (EOF) is a drop like any other.
func classify(err error) errKind {
	if errors.Is(err, io.EOF) {
		return errRetry
	}
	code := ""
	var pe *pubsubError
	if errors.As(err, &pe) {
		code = strings.ToLower(pe.code)
	}
	st, isStatus := status.FromError(err)
	msg := strings.ToLower(st.Message())
	switch {
	case strings.Contains(code, "replayid") || strings.Contains(msg, "replay id validation failed") ||
		strings.Contains(msg, "replayid.corrupted") || strings.Contains(msg, "replayid.validation.failed"):
		return errReplay
	case strings.Contains(code, ".auth.") || strings.Contains(msg, "service.auth.error") || st.Code() == codes.Unauthenticated:
		return errAuth
	case !isStatus:
		return errFatal
	}
	switch st.Code() {
	case codes.Unavailable, codes.Internal, codes.Unknown, codes.Aborted, codes.ResourceExhausted, codes.DeadlineExceeded:
		return errRetry
	case codes.Canceled:
		// Our own idle watchdog cancels a silent stream; a cancelled
		// Subscribe is noticed by the caller before it gets here.
		return errRetry
	}
	return errFatal
}
