package sfemu

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
)

// Default development credentials. They are printed by `sluice dev
// salesforce` and documented in the README; they protect nothing.
const (
	DefaultConsumerKey    = "3MVG9sluice.emulator.dev.consumer.key"
	DefaultConsumerSecret = "sluice-dev-consumer-secret"
	DefaultUsername       = "dev@sluice.example"
	DefaultPassword       = "sluice-dev-password"
	// DefaultSecurityToken may be appended to the password (it is optional).
	DefaultSecurityToken = "SLUICEDEVTOKEN"
	// DefaultAPIVersion is the newest version the versions list reports.
	DefaultAPIVersion = "64.0"
)

// Options configures a Server. The zero value is usable.
type Options struct {
	// Records is how many generated records to seed per object (Account,
	// Contact, Lead, Opportunity, Case, User and seed-file objects) when the
	// data directory holds none.
	Records int
	// DataDir, when set, is loaded on New and written by Save.
	DataDir string
	// SeedFile names a JSON file of custom objects (see SeedFile).
	SeedFile string
	// CustomObjects are declared in code, like the seed file's.
	CustomObjects []ObjectDef
	// Now is the clock (default time.Now).
	Now func() time.Time
	// SessionTTL is the inactivity timeout of access tokens (default 2h).
	SessionTTL time.Duration
	// Seed makes generated data deterministic.
	Seed int64
	// BaseURL is the emulator's external URL (instance_url). Empty: derived
	// from each request's Host.
	BaseURL string
	// APILimit is DailyApiRequests' Max (default 15000).
	APILimit int
	// QueryBatchSize is the REST query page size (default 2000).
	QueryBatchSize int
	// BulkPageSize is the default number of rows per Bulk query results page
	// (default 50000).
	BulkPageSize int
	// BulkDelay is how long a Bulk job spends between UploadComplete and
	// JobComplete. Zero: each status poll advances a job one state.
	BulkDelay time.Duration
	// BulkJobRetention is how long a Bulk job stays after it ends
	// (JobComplete, Failed or Aborted); then it is deleted, its results
	// with it. Default 7 days, as in Salesforce.
	BulkJobRetention time.Duration
	// IngestAppend accepts several PUTs of CSV data to one ingest job
	// (Salesforce refuses the second one; that is the default).
	IngestAppend bool
	// ConsumerKey, ConsumerSecret, Username, Password and SecurityToken
	// override the default development credentials.
	ConsumerKey, ConsumerSecret, Username, Password, SecurityToken string
	// CertificatePEM is the certificate JWT assertions are verified against
	// (default DevCertificatePEM).
	CertificatePEM string
	// Faults are switched on from the start.
	Faults Faults
	// CDCEntities lists the objects whose committed changes are published
	// as change events, by API name ("Account", "Employee__c") or entity
	// name ("AccountChangeEvent"). Nil selects every object, as if all were
	// picked in Setup; an empty list selects none.
	CDCEntities []string
	// Retention is how long change events stay available for replay
	// (default 72h, as in Salesforce).
	Retention time.Duration
	// MaxRetainedEvents caps the retained change events; the oldest go
	// first (default 1,000,000).
	MaxRetainedEvents int
	// KeepAlive is how long an idle Pub/Sub Subscribe stream waits before it
	// sends an empty FetchResponse carrying latest_replay_id (default 270s).
	KeepAlive time.Duration
	// Logf logs each request when set.
	Logf func(format string, args ...any)
}

// Faults are the injectable failures; POST them as JSON to /__emulator/faults.
type Faults struct {
	// ExpireSessions invalidates every access token now (one-shot).
	ExpireSessions bool `json:"expireSessions,omitempty"`
	// RevokeRefreshTokens revokes every refresh token now (one-shot).
	RevokeRefreshTokens bool `json:"revokeRefreshTokens,omitempty"`
	// ExpireSessionsAfter expires every session after this many more API calls.
	ExpireSessionsAfter int `json:"expireSessionsAfter,omitempty"`
	// RequestLimitExceeded answers the next N API calls with 403 REQUEST_LIMIT_EXCEEDED.
	RequestLimitExceeded int `json:"requestLimitExceeded,omitempty"`
	// APIUsage sets the daily usage counter (calls beyond APILimit get 403).
	APIUsage *int `json:"apiUsage,omitempty"`
	// APILimit changes DailyApiRequests' Max.
	APILimit int `json:"apiLimit,omitempty"`
	// UnableToLockRow fails the next N record writes with UNABLE_TO_LOCK_ROW.
	UnableToLockRow int `json:"unableToLockRow,omitempty"`
	// ServerUnavailable answers the next N API calls with 503 SERVER_UNAVAILABLE.
	ServerUnavailable int `json:"serverUnavailable,omitempty"`
	// Latency is added to every call.
	LatencyMs int `json:"latencyMs,omitempty"`
	// FailBulkJobs makes the next N Bulk jobs end in state Failed.
	FailBulkJobs int `json:"failBulkJobs,omitempty"`
	// PubSubDropAfter ends every Subscribe stream with UNAVAILABLE once it
	// has sent this many events (0: never).
	PubSubDropAfter int `json:"pubSubDropAfter,omitempty"`
	// PubSubAuthErrors fails the next N Pub/Sub RPCs with the auth error,
	// whatever token they carry.
	PubSubAuthErrors int `json:"pubSubAuthErrors,omitempty"`
}

// Server is the emulator; it implements http.Handler.
type Server struct {
	// BaseURL is what instance_url and identity URLs use; set it once the
	// listener's address is known (empty: derived from each request).
	BaseURL string

	opts    Options
	now     func() time.Time
	objects map[string]*sobject // lower-case name → schema
	order   []*sobject

	mu     sync.RWMutex // guards tables and records
	tables map[string]*table

	orgID, userID string
	certKey       *rsa.PublicKey

	authMu   sync.Mutex
	sessions map[string]*session
	refresh  map[string]*refreshToken

	usage    atomic.Int64
	faultMu  sync.Mutex
	faults   Faults
	apiLimit int

	curMu   sync.Mutex
	cursors map[string]*cursor
	curSeq  uint64

	jobMu  sync.Mutex
	jobs   map[string]*job
	jobSeq uint64

	// schemaMu is held shared by every HTTP request and exclusively by
	// AddField, which is the only code that changes an object's fields.
	schemaMu sync.RWMutex
	cdc      *changeLog

	pubSubMu      sync.Mutex
	pubSubServers map[*grpc.Server]struct{}
}

// New builds a server: it loads DataDir if it holds data, else seeds.
func New(opts Options) (*Server, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = 2 * time.Hour
	}
	if opts.APILimit <= 0 {
		opts.APILimit = 15000
	}
	if opts.QueryBatchSize <= 0 {
		opts.QueryBatchSize = 2000
	}
	if opts.BulkPageSize <= 0 {
		opts.BulkPageSize = 50000
	}
	if opts.BulkJobRetention <= 0 {
		opts.BulkJobRetention = 7 * 24 * time.Hour
	}
	if opts.Retention <= 0 {
		opts.Retention = defaultRetention
	}
	if opts.MaxRetainedEvents <= 0 {
		opts.MaxRetainedEvents = defaultMaxRetainedEvents
	}
	if opts.KeepAlive <= 0 {
		opts.KeepAlive = defaultKeepAlive
	}
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&opts.ConsumerKey, DefaultConsumerKey)
	def(&opts.ConsumerSecret, DefaultConsumerSecret)
	def(&opts.Username, DefaultUsername)
	def(&opts.Password, DefaultPassword)
	def(&opts.SecurityToken, DefaultSecurityToken)
	def(&opts.CertificatePEM, DevCertificatePEM)
	s := &Server{
		BaseURL: strings.TrimSuffix(opts.BaseURL, "/"), opts: opts, now: opts.Now,
		objects: map[string]*sobject{}, tables: map[string]*table{},
		sessions: map[string]*session{}, refresh: map[string]*refreshToken{},
		cursors: map[string]*cursor{}, jobs: map[string]*job{},
		faults: opts.Faults, apiLimit: opts.APILimit,
		pubSubServers: map[*grpc.Server]struct{}{},
	}
	if opts.Faults.APILimit > 0 {
		s.apiLimit = opts.Faults.APILimit
	}
	if opts.Faults.APIUsage != nil {
		s.usage.Store(int64(*opts.Faults.APIUsage))
	}
	block, _ := pem.Decode([]byte(opts.CertificatePEM))
	if block == nil {
		return nil, errors.New("sfemu: CertificatePEM holds no PEM block")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("sfemu: certificate: %w", err)
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, errors.New("sfemu: the certificate's key is not RSA")
	}
	s.certKey = pub

	objs := standardObjects()
	custom := []*sobject{}
	if opts.SeedFile != "" {
		c, err := loadSeedFile(opts.SeedFile)
		if err != nil {
			return nil, err
		}
		custom = append(custom, c...)
	}
	for i, d := range opts.CustomObjects {
		o, err := customObject(d, fmt.Sprintf("a%02d", len(custom)+i))
		if err != nil {
			return nil, err
		}
		custom = append(custom, o)
	}
	for _, o := range append(objs, custom...) {
		if s.objects[strings.ToLower(o.name)] != nil {
			return nil, fmt.Errorf("sfemu: object %s declared twice", o.name)
		}
		s.objects[strings.ToLower(o.name)] = o
		s.order = append(s.order, o)
		s.tables[strings.ToLower(o.name)] = newTable(o)
	}
	sort.SliceStable(s.order, func(i, j int) bool { return s.order[i].name < s.order[j].name })
	s.orgID = mintID("00D", 1)

	loaded := false
	if opts.DataDir != "" {
		if loaded, err = s.load(opts.DataDir); err != nil {
			return nil, err
		}
	}
	if !loaded {
		s.seed()
	}
	u := s.userByName(opts.Username)
	if u == nil {
		return nil, fmt.Errorf("sfemu: no User with Username %s", opts.Username)
	}
	s.userID = u.id(s.objects["user"])
	if s.cdc, err = newChangeLog(s.order, opts); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Server) userByName(name string) *record {
	t := s.tables["user"]
	f := t.obj.field("Username")
	for _, r := range t.recs {
		if v, _ := r.vals[f.idx].(string); strings.EqualFold(v, name) {
			return r
		}
	}
	return nil
}

// OrgID and UserID are the organization and the development user.
func (s *Server) OrgID() string  { return s.orgID }
func (s *Server) UserID() string { return s.userID }

// Count returns how many live (not deleted) records obj holds.
func (s *Server) Count(obj string) int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t := s.tables[strings.ToLower(obj)]
	if t == nil {
		return 0
	}
	n := 0
	for _, r := range t.recs {
		if !r.purged && !r.deleted(t.obj) {
			n++
		}
	}
	return n
}

// APIUsage is the number of API calls counted so far.
func (s *Server) APIUsage() int { return int(s.usage.Load()) }

// SetFaults applies fault switches as the admin endpoint does.
func (s *Server) SetFaults(f Faults) {
	if f.ExpireSessions {
		s.authMu.Lock()
		s.sessions = map[string]*session{}
		s.authMu.Unlock()
	}
	if f.RevokeRefreshTokens {
		s.authMu.Lock()
		for _, r := range s.refresh {
			r.revoked = true
		}
		s.authMu.Unlock()
	}
	if f.APIUsage != nil {
		s.usage.Store(int64(*f.APIUsage))
	}
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	if f.APILimit > 0 {
		s.apiLimit = f.APILimit
	}
	f.ExpireSessions, f.RevokeRefreshTokens, f.APIUsage, f.APILimit = false, false, nil, 0
	s.faults = f
}

// Faults returns the current fault switches.
func (s *Server) Faults() Faults {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	return s.faults
}

func (s *Server) baseURL(r *http.Request) string {
	if s.BaseURL != "" {
		return s.BaseURL
	}
	if r == nil {
		return "http://localhost"
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// ---- errors and responses ----

type apiError struct {
	Message   string   `json:"message"`
	ErrorCode string   `json:"errorCode"`
	Fields    []string `json:"fields,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := marshal(v)
	if err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func marshal(v any) ([]byte, error) {
	var sb strings.Builder
	enc := json.NewEncoder(&sb)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return []byte(strings.TrimSuffix(sb.String(), "\n")), nil
}

func writeErr(w http.ResponseWriter, status int, code, msg string, fields ...string) {
	writeJSON(w, status, []apiError{{Message: msg, ErrorCode: code, Fields: fields}})
}

func notFound(w http.ResponseWriter) {
	writeErr(w, http.StatusNotFound, "NOT_FOUND", "The requested resource does not exist")
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request, allowed ...string) {
	w.Header().Set("Allow", strings.Join(allowed, ","))
	writeErr(w, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED",
		fmt.Sprintf("HTTP Method '%s' not allowed. Allowed are %s", r.Method, strings.Join(allowed, ",")))
}

// ---- routing ----

var versionRE = regexp.MustCompile(`^v(\d+\.\d)$`)

type reqCtx struct {
	w       http.ResponseWriter
	r       *http.Request
	version string
	sess    *session
	rest    []string // path segments after /services/data/vXX.X/
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.opts.Logf != nil {
		s.opts.Logf("%s %s", r.Method, r.URL.RequestURI())
	}
	s.schemaMu.RLock()
	defer s.schemaMu.RUnlock()
	path := r.URL.Path
	switch {
	case path == "/services/oauth2/token":
		s.handleToken(w, r)
		return
	case path == "/services/oauth2/revoke":
		s.handleRevoke(w, r)
		return
	case path == "/services/oauth2/userinfo" || strings.HasPrefix(path, "/id/"):
		s.handleUserinfo(w, r)
		return
	case path == "/__emulator/faults":
		s.handleFaults(w, r)
		return
	case path == "/__emulator/undelete":
		s.handleUndelete(w, r)
		return
	case path == "/services/data" || path == "/services/data/":
		if r.Method != http.MethodGet {
			methodNotAllowed(w, r, "GET", "HEAD")
			return
		}
		s.handleVersions(w, r)
		return
	case strings.HasPrefix(path, "/services/data/"):
	default:
		notFound(w)
		return
	}
	segs := strings.Split(strings.Trim(strings.TrimPrefix(path, "/services/data/"), "/"), "/")
	m := versionRE.FindStringSubmatch(segs[0])
	if m == nil {
		notFound(w)
		return
	}
	c := &reqCtx{w: w, r: r, version: m[1], rest: segs[1:]}
	if len(c.rest) == 1 && c.rest[0] == "" {
		c.rest = nil
	}
	if !s.gate(c) {
		return
	}
	s.route(c)
}

// gate applies latency, 503, authentication and limits; it answers and
// returns false when the call must stop here.
func (s *Server) gate(c *reqCtx) bool {
	s.faultMu.Lock()
	lat := s.faults.LatencyMs
	unavailable := s.faults.ServerUnavailable > 0
	if unavailable {
		s.faults.ServerUnavailable--
	}
	s.faultMu.Unlock()
	if lat > 0 {
		select {
		case <-time.After(time.Duration(lat) * time.Millisecond):
		case <-c.r.Context().Done():
			return false
		}
	}
	s.setLimitHeader(c.w)
	if unavailable {
		writeErr(c.w, http.StatusServiceUnavailable, "SERVER_UNAVAILABLE", "Server temporarily unavailable. Please try again later.")
		return false
	}
	sess := s.authenticate(c.r)
	if sess == nil {
		writeErr(c.w, http.StatusUnauthorized, "INVALID_SESSION_ID", "Session expired or invalid")
		return false
	}
	c.sess = sess
	s.faultMu.Lock()
	limited := s.faults.RequestLimitExceeded > 0
	if limited {
		s.faults.RequestLimitExceeded--
	}
	limit := s.apiLimit
	expireAll := false
	if s.faults.ExpireSessionsAfter > 0 {
		s.faults.ExpireSessionsAfter--
		expireAll = s.faults.ExpireSessionsAfter == 0
	}
	s.faultMu.Unlock()
	if expireAll {
		s.authMu.Lock()
		s.sessions = map[string]*session{}
		s.authMu.Unlock()
	}
	if !limited {
		if n := s.usage.Add(1); n > int64(limit) {
			s.usage.Add(-1)
			limited = true
		}
	}
	s.setLimitHeader(c.w)
	if limited {
		writeErr(c.w, http.StatusForbidden, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
		return false
	}
	return true
}

func (s *Server) setLimitHeader(w http.ResponseWriter) {
	s.faultMu.Lock()
	limit := s.apiLimit
	s.faultMu.Unlock()
	w.Header().Set("Sforce-Limit-Info", fmt.Sprintf("api-usage=%d/%d", s.usage.Load(), limit))
}

// takeLockFault reports whether the next write must fail with UNABLE_TO_LOCK_ROW.
func (s *Server) takeLockFault() bool {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	if s.faults.UnableToLockRow > 0 {
		s.faults.UnableToLockRow--
		return true
	}
	return false
}

func (s *Server) route(c *reqCtx) {
	r := c.rest
	if len(r) == 0 {
		if c.r.Method != http.MethodGet {
			methodNotAllowed(c.w, c.r, "GET", "HEAD")
			return
		}
		base := "/services/data/v" + c.version
		writeJSON(c.w, 200, map[string]string{
			"limits": base + "/limits", "sobjects": base + "/sobjects", "query": base + "/query",
			"queryAll": base + "/queryAll", "composite": base + "/composite", "jobs": base + "/jobs",
		})
		return
	}
	switch r[0] {
	case "limits":
		s.handleLimits(c)
	case "sobjects":
		s.routeSObjects(c)
	case "query", "queryAll":
		s.handleQuery(c, r[0] == "queryAll")
	case "composite":
		if len(r) >= 2 && r[1] == "sobjects" {
			s.handleCollections(c)
			return
		}
		notFound(c.w)
	case "jobs":
		if len(r) >= 2 && r[1] == "query" {
			s.handleQueryJobs(c)
			return
		}
		if len(r) >= 2 && r[1] == "ingest" {
			s.handleIngestJobs(c)
			return
		}
		notFound(c.w)
	default:
		notFound(c.w)
	}
}

// ---- versions, limits, faults ----

func versionLabel(v int) string {
	k := v - 60
	idx := ((k % 3) + 3) % 3
	year := 24 + int(floorDiv(int64(k+1), 3))
	return fmt.Sprintf("%s '%02d", []string{"Spring", "Summer", "Winter"}[idx], year)
}

func (s *Server) handleVersions(w http.ResponseWriter, _ *http.Request) {
	maxV, _ := strconv.Atoi(strings.Split(DefaultAPIVersion, ".")[0])
	out := []map[string]string{}
	for v := 31; v <= maxV; v++ {
		out = append(out, map[string]string{"label": versionLabel(v), "url": fmt.Sprintf("/services/data/v%d.0", v), "version": fmt.Sprintf("%d.0", v)})
	}
	writeJSON(w, 200, out)
}

func (s *Server) handleLimits(c *reqCtx) {
	if c.r.Method != http.MethodGet {
		methodNotAllowed(c.w, c.r, "GET", "HEAD")
		return
	}
	s.faultMu.Lock()
	limit := s.apiLimit
	s.faultMu.Unlock()
	used := int(s.usage.Load())
	s.jobMu.Lock()
	var q, ing int
	for _, j := range s.jobs {
		if j.query {
			q++
		} else {
			ing++
		}
	}
	s.jobMu.Unlock()
	mr := func(max, rem int) map[string]int { return map[string]int{"Max": max, "Remaining": rem} }
	writeJSON(c.w, 200, map[string]any{
		"ConcurrentAsyncGetReportInstances": mr(200, 200),
		"DailyApiRequests":                  mr(limit, max(limit-used, 0)),
		"DailyAsyncApexExecutions":          mr(250000, 250000),
		"DailyBulkApiBatches":               mr(15000, 15000-ing),
		"DailyBulkV2QueryFileStorageMB":     mr(976562, 976562),
		"DailyBulkV2QueryJobs":              mr(10000, 10000-q),
		"DataStorageMB":                     mr(1024, 1024),
		"FileStorageMB":                     mr(1024, 1024),
		"HourlyODataCallout":                mr(10000, 10000),
		"SingleEmail":                       mr(5000, 5000),
	})
}

func (s *Server) handleFaults(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
	case http.MethodPost, http.MethodPut:
		var f Faults
		if err := json.NewDecoder(r.Body).Decode(&f); err != nil {
			writeErr(w, 400, "JSON_PARSER_ERROR", err.Error())
			return
		}
		s.SetFaults(f)
	case http.MethodDelete:
		s.SetFaults(Faults{})
	default:
		methodNotAllowed(w, r, "GET", "POST", "DELETE")
		return
	}
	f := s.Faults()
	u := s.APIUsage()
	f.APIUsage = &u
	s.faultMu.Lock()
	f.APILimit = s.apiLimit
	s.faultMu.Unlock()
	writeJSON(w, 200, f)
}
