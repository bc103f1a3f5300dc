package sfemu

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

const (
	defaultRetention         = 72 * time.Hour
	defaultMaxRetainedEvents = 1_000_000
	defaultKeepAlive         = 270 * time.Second
)

// AllChangeEventsTopic carries the change events of every selected entity.
const AllChangeEventsTopic = "/data/ChangeEvents"

// Change types of the ChangeEventHeader.
const (
	changeCreate      = "CREATE"
	changeUpdate      = "UPDATE"
	changeDelete      = "DELETE"
	changeUndelete    = "UNDELETE"
	changeGapOverflow = "GAP_OVERFLOW"
)

// changeTypes are the symbols of the ChangeType enum, in schema order.
var changeTypes = []string{"CREATE", "UPDATE", "DELETE", "UNDELETE", "GAP_CREATE", "GAP_UPDATE",
	"GAP_DELETE", "GAP_UNDELETE", "GAP_OVERFLOW", "SNAPSHOT"}

// cdcEntity is an object selected for Change Data Capture.
type cdcEntity struct {
	obj      *sobject
	name     string     // AccountChangeEvent, Employee__ChangeEvent
	topic    string     // /data/AccountChangeEvent
	schema   *cdcSchema // the current version; events keep the one they were encoded with
	retained int
}

// storedEvent is one retained change event; payload is its Avro body.
type storedEvent struct {
	replay   uint64
	commitMs int64
	schema   *cdcSchema
	payload  []byte
}

// changeTxn groups the change events of one request (one Bulk chunk): they
// share a transactionKey, commit number and timestamp and are numbered by
// sequenceNumber.
type changeTxn struct {
	origin, user string
	key          string
	commitNumber int64
	commitMs     int64
	seq          int32
}

func newChangeTxn(origin, user string) *changeTxn {
	return &changeTxn{origin: origin, user: user}
}

// changeOrigin renders the header's changeOrigin for a call through api
// ("rest", "bulkapi", "soap") carrying the given Sforce-Call-Options.
func changeOrigin(api, version, callOptions string) string {
	o := "com/salesforce/api/" + api + "/" + version
	if client := callOptionsClient(callOptions); client != "" {
		o += ";client=" + client
	}
	return o
}

// callOptionsClient extracts client=<id> from a Sforce-Call-Options header
// ("client=etl, defaultNamespace=ns").
func callOptionsClient(h string) string {
	for part := range strings.SplitSeq(h, ",") {
		if k, v, ok := strings.Cut(part, "="); ok && strings.EqualFold(strings.TrimSpace(k), "client") {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func (s *Server) restTxn(c *reqCtx) *changeTxn {
	return newChangeTxn(changeOrigin("rest", c.version, c.r.Header.Get("Sforce-Call-Options")), c.sess.userID)
}

// changeLog retains change events in commit order and wakes subscribers.
// Every publisher already holds Server.mu for writing, so commit order is
// the order events reach append.
type changeLog struct {
	mu        sync.Mutex
	now       func() time.Time
	retention time.Duration
	max       int

	entities []*cdcEntity
	byObject map[*sobject]*cdcEntity
	byTopic  map[string]*cdcEntity
	schemas  map[string]*cdcSchema // every version ever served, by id

	// events[head:] are retained; firstSeq numbers events[head] so that a
	// cursor survives the slice being compacted.
	events   []storedEvent
	head     int
	firstSeq uint64
	// lastReplay is the newest replay id handed out. floor is a replay id
	// minted whenever events are dropped: resuming after it means "from the
	// oldest retained event", with nothing lost, while the ids of dropped
	// events are rejected as corrupted.
	lastReplay   uint64
	floor        uint64
	nonce        uint64
	commitNumber int64
	lastCommitMs int64
	txnSeq       uint64
	wake         chan struct{}
}

func newChangeLog(objects []*sobject, opts Options) (*changeLog, error) {
	// Replay ids start from the wall clock so that ids kept from an earlier
	// run of the emulator never match this run's.
	start := uint64(time.Now().UnixMicro()) << 8
	l := &changeLog{now: opts.Now, retention: opts.Retention, max: opts.MaxRetainedEvents,
		byObject: map[*sobject]*cdcEntity{}, byTopic: map[string]*cdcEntity{}, schemas: map[string]*cdcSchema{},
		lastReplay: start, floor: start, nonce: start ^ 0x5ca1ab1e0ddba11, commitNumber: 1100670838951,
		wake: make(chan struct{})}
	selected := map[*sobject]bool{}
	if opts.CDCEntities == nil {
		for _, o := range objects {
			selected[o] = true
		}
	}
	for _, name := range opts.CDCEntities {
		var found *sobject
		for _, o := range objects {
			if strings.EqualFold(name, o.name) || strings.EqualFold(name, changeEventName(o)) {
				found = o
			}
		}
		if found == nil {
			return nil, fmt.Errorf("sfemu: CDCEntities: no object %q", name)
		}
		selected[found] = true
	}
	for _, o := range objects {
		if !selected[o] {
			continue
		}
		e := &cdcEntity{obj: o, name: changeEventName(o)}
		e.topic = "/data/" + e.name
		sch, err := buildCDCSchema(e)
		if err != nil {
			return nil, err
		}
		e.schema = sch
		l.schemas[sch.id] = sch
		l.entities = append(l.entities, e)
		l.byObject[o] = e
		l.byTopic[e.topic] = e
	}
	return l, nil
}

// changeEventName is the entity name of an object's change events.
func changeEventName(o *sobject) string {
	if o.custom {
		return strings.TrimSuffix(o.name, "__c") + "__ChangeEvent"
	}
	return o.name + "ChangeEvent"
}

// topic resolves a channel name: the entity, or nil for AllChangeEventsTopic.
func (l *changeLog) topic(name string) (*cdcEntity, bool) {
	if name == AllChangeEventsTopic {
		return nil, len(l.entities) > 0
	}
	e := l.byTopic[name]
	return e, e != nil
}

// mintReplay hands out the next replay id, leaving gaps so that clients
// cannot mistake ids for counters.
func (l *changeLog) mintReplay() uint64 {
	l.lastReplay += 2 + (l.lastReplay*0x9E3779B97F4A7C15)>>62
	return l.lastReplay
}

func replayBytes(id uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), id)
}

// uuidOf renders two numbers as a version-4-shaped UUID (event ids and
// transaction keys need to look like Salesforce's, not be random).
func uuidOf(a, b uint64) string {
	var u [16]byte
	binary.BigEndian.PutUint64(u[:8], a)
	binary.BigEndian.PutUint64(u[8:], b)
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:])
}

// begin fixes the transaction's key, commit number and timestamp when its
// first event is published.
func (l *changeLog) begin(tx *changeTxn) {
	if tx.commitNumber != 0 {
		return
	}
	l.commitNumber += 7
	l.txnSeq++
	tx.commitNumber = l.commitNumber
	tx.key = uuidOf(l.nonce^0x7a11, l.txnSeq)
	tx.commitMs = max(l.now().UnixMilli(), l.lastCommitMs)
	l.lastCommitMs = tx.commitMs
}

// publish encodes and retains one change event of tx.
func (l *changeLog) publish(tx *changeTxn, e *cdcEntity, changeType string, ids []string, old, new []any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.begin(tx)
	tx.seq++
	h := changeHeader{entity: e.obj.name, ids: ids, changeType: changeType, origin: tx.origin, txKey: tx.key,
		seq: tx.seq, commitMs: tx.commitMs, commitNumber: tx.commitNumber, user: tx.user}
	payload, err := e.schema.encode(h, old, new)
	if err != nil && !strings.HasPrefix(changeType, "GAP_") {
		// Salesforce sends a gap event when it cannot build an event's
		// body; subscribers then refetch the records.
		h.changeType = "GAP_" + changeType
		payload, err = e.schema.encode(h, nil, nil)
	}
	if err != nil {
		return
	}
	l.append(storedEvent{commitMs: tx.commitMs, schema: e.schema, payload: payload})
}

func (l *changeLog) append(ev storedEvent) {
	ev.replay = l.mintReplay()
	l.events = append(l.events, ev)
	ev.schema.entity.retained++
	dropped := false
	for len(l.events)-l.head > l.max {
		l.dropOldest()
		dropped = true
	}
	if l.expire(l.now().UnixMilli()-l.retention.Milliseconds()) || dropped {
		l.afterDrop()
	}
	close(l.wake)
	l.wake = make(chan struct{})
}

func (l *changeLog) dropOldest() {
	ev := &l.events[l.head]
	ev.schema.entity.retained--
	*ev = storedEvent{}
	l.head++
	l.firstSeq++
}

// expire drops the events committed before cutoffMs and reports whether it
// dropped any; callers follow up with afterDrop.
func (l *changeLog) expire(cutoffMs int64) bool {
	dropped := false
	for l.head < len(l.events) && l.events[l.head].commitMs < cutoffMs {
		l.dropOldest()
		dropped = true
	}
	return dropped
}

func (l *changeLog) afterDrop() {
	l.floor = l.mintReplay()
	if l.head >= 1024 && l.head*2 >= len(l.events) {
		l.events = append(make([]storedEvent, 0, len(l.events)-l.head+1024), l.events[l.head:]...)
		l.head = 0
	}
}

func (l *changeLog) expireByRetention() {
	if l.expire(l.now().UnixMilli() - l.retention.Milliseconds()) {
		l.afterDrop()
	}
}

// latest is the position a LATEST subscription starts from.
func (l *changeLog) latest() uint64 {
	if l.head < len(l.events) {
		return l.events[len(l.events)-1].replay
	}
	return l.floor
}

// changeCursor is a subscription's place in the log.
type changeCursor struct {
	next     uint64 // sequence number of the next event to look at
	position uint64 // replay id of the last event passed, or the floor
}

var errReplayCorrupted = errors.New("the replay id is not retained")

// cursorAfter positions a cursor just after the event with replay id id.
func (l *changeLog) cursorAfter(id uint64) (changeCursor, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.expireByRetention()
	if id == l.floor {
		return changeCursor{next: l.firstSeq, position: l.floor}, nil
	}
	live := l.events[l.head:]
	i := sort.Search(len(live), func(i int) bool { return live[i].replay >= id })
	if i == len(live) || live[i].replay != id {
		return changeCursor{}, errReplayCorrupted
	}
	return changeCursor{next: l.firstSeq + uint64(i) + 1, position: id}, nil
}

func (l *changeLog) cursorEarliest() changeCursor {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.expireByRetention()
	return changeCursor{next: l.firstSeq, position: l.floor}
}

func (l *changeLog) cursorLatest() changeCursor {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.expireByRetention()
	return changeCursor{next: l.firstSeq + uint64(len(l.events)-l.head), position: l.latest()}
}

// maxBatchBytes keeps a FetchResponse well under gRPC's 4 MB message cap.
const maxBatchBytes = 3 << 20

// collect advances c over the retained events: it returns up to limit
// events of entity (nil: any) and passes over events of other entities, so
// that c.position stays current while a subscriber has no credits. The
// returned channel is closed by the next append.
func (l *changeLog) collect(c *changeCursor, entity *cdcEntity, limit int) ([]storedEvent, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.expireByRetention()
	if c.next < l.firstSeq {
		// The subscriber fell behind retention: the events in between are lost.
		c.next, c.position = l.firstSeq, l.floor
	}
	var out []storedEvent
	size := 0
	for i := l.head + int(c.next-l.firstSeq); i < len(l.events); i++ {
		ev := l.events[i]
		if entity == nil || ev.schema.entity == entity {
			if len(out) >= limit || (len(out) > 0 && size+len(ev.payload) > maxBatchBytes) {
				break
			}
			out = append(out, ev)
			size += len(ev.payload)
		}
		c.next++
		c.position = ev.replay
	}
	return out, l.wake
}

func (l *changeLog) schemaByID(id string) *cdcSchema {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.schemas[id]
}

func (l *changeLog) currentSchema(e *cdcEntity) *cdcSchema {
	l.mu.Lock()
	defer l.mu.Unlock()
	return e.schema
}

// refreshSchema rebuilds an entity's schema after its object changed.
func (l *changeLog) refreshSchema(o *sobject) error {
	e := l.byObject[o]
	if e == nil {
		return nil
	}
	sch, err := buildCDCSchema(e)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if prev := l.schemas[sch.id]; prev != nil {
		sch = prev
	}
	l.schemas[sch.id] = sch
	e.schema = sch
	return nil
}

// emitChange publishes the change event of one committed record write; old
// and new are the record's values before and after (nil for none).
// Server.mu must be held for writing.
func (s *Server) emitChange(tx *changeTxn, o *sobject, changeType, id string, old, new []any) {
	if tx == nil {
		return
	}
	if e := s.cdc.byObject[o]; e != nil {
		s.cdc.publish(tx, e, changeType, []string{id}, old, new)
	}
}

// ---- Go API ----

// InjectGap publishes a GAP_<changeType> event (header only) for records
// of object, as Salesforce does when it cannot build an event's body;
// subscribers are expected to refetch the records. changeType is CREATE,
// UPDATE, DELETE or UNDELETE (with or without the GAP_ prefix). Nothing is
// published for an object not selected for CDC. It panics on an unknown
// object or change type, which are mistakes in the calling test.
func (s *Server) InjectGap(object string, ids []string, changeType string) {
	ct := "GAP_" + strings.TrimPrefix(strings.ToUpper(changeType), "GAP_")
	switch ct {
	case "GAP_CREATE", "GAP_UPDATE", "GAP_DELETE", "GAP_UNDELETE":
	default:
		panic(fmt.Sprintf("sfemu: InjectGap: change type %q", changeType))
	}
	norm := make([]string, len(ids))
	for i, id := range ids {
		if norm[i] = normID(id); norm[i] == "" {
			norm[i] = id
		}
	}
	s.injectGap(object, norm, ct)
}

// InjectOverflow publishes a GAP_OVERFLOW event (no record ids), as
// Salesforce does for a transaction of more than 100,000 changes;
// subscribers are expected to resynchronize the object.
func (s *Server) InjectOverflow(object string) {
	s.injectGap(object, []string{}, changeGapOverflow)
}

func (s *Server) injectGap(object string, ids []string, changeType string) {
	o := s.objects[strings.ToLower(object)]
	if o == nil {
		panic(fmt.Sprintf("sfemu: no object %q", object))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.cdc.byObject[o]; e != nil {
		s.cdc.publish(newChangeTxn("", s.userID), e, changeType, ids, nil, nil)
	}
}

// ExpireEvents drops the retained change events committed before before;
// replay ids of dropped events are then rejected as corrupted.
func (s *Server) ExpireEvents(before time.Time) {
	l := s.cdc
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.expire(before.UnixMilli()) {
		l.afterDrop()
	}
}

// ChangeEventCount is how many retained change events topic carries
// (AllChangeEventsTopic or /data/<Entity>ChangeEvent; 0 for other names).
func (s *Server) ChangeEventCount(topic string) int {
	l := s.cdc
	e, ok := l.topic(topic)
	if !ok {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.expireByRetention()
	if e == nil {
		return len(l.events) - l.head
	}
	return e.retained
}

// ChangeEventTopics lists the channels of the entities selected for CDC.
func (s *Server) ChangeEventTopics() []string {
	var out []string
	for _, e := range s.cdc.entities {
		out = append(out, e.topic)
	}
	return out
}

// AddField adds a custom field (its name ends in __c) to object, as an
// admin would in Setup: describe and SOQL see it, existing records hold
// null (false for a checkbox), and the object's change event schema gets a
// new id that later events carry. The field is not persisted by Save.
func (s *Server) AddField(object string, f Field) error {
	s.schemaMu.Lock()
	defer s.schemaMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.objects[strings.ToLower(object)]
	if o == nil {
		return fmt.Errorf("sfemu: AddField: no object %q", object)
	}
	if f.CompoundFieldName != "" {
		return fmt.Errorf("sfemu: AddField %s.%s: compound components cannot be added", o.name, f.Name)
	}
	nf, err := customField(f)
	if err != nil {
		return fmt.Errorf("sfemu: AddField on %s: %w", o.name, err)
	}
	if o.field(nf.Name) != nil {
		return fmt.Errorf("sfemu: AddField: %s already has a field %s", o.name, nf.Name)
	}
	// Appending keeps every existing field's index, which compiled queries
	// and stored rows rely on.
	o.fields = append(o.fields[:len(o.fields):len(o.fields)], nf)
	o.register(nf, len(o.fields)-1)
	var fill any
	if nf.Type == "boolean" {
		fill = nf.DefaultValue
	}
	for _, r := range s.tables[strings.ToLower(o.name)].recs {
		vals := make([]any, len(o.fields))
		copy(vals, r.vals)
		vals[nf.idx] = fill
		r.vals = vals
	}
	return s.cdc.refreshSchema(o)
}

// Undelete restores soft-deleted records from the recycle bin, as the SOAP
// API's undelete() call does (the REST API has no such call), and
// publishes UNDELETE change events. Either every id is restored or none.
func (s *Server) Undelete(ids ...string) error {
	return s.undelete(ids, newChangeTxn(changeOrigin("soap", DefaultAPIVersion, ""), s.userID))
}

func (s *Server) undelete(ids []string, tx *changeTxn) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	type target struct {
		t *table
		r *record
	}
	var targets []target
	for _, id := range ids {
		n := normID(strings.TrimSpace(id))
		if n == "" {
			return fmt.Errorf("MALFORMED_ID: %q is not an id", id)
		}
		t, r := s.recordByID(n)
		switch {
		case r == nil:
			return fmt.Errorf("INVALID_CROSS_REFERENCE_KEY: no record %s", n)
		case !r.deleted(t.obj):
			return fmt.Errorf("UNDELETE_FAILED: %s is not in the recycle bin", n)
		}
		targets = append(targets, target{t, r})
	}
	now := s.now().UnixMilli()
	for _, x := range targets {
		s.commitUndelete(tx, x.t, x.r, now, tx.user)
	}
	return nil
}

// handleUndelete is the admin face of Undelete: POST {"ids":[...]}; the
// caller's Sforce-Call-Options client tag reaches changeOrigin.
func (s *Server) handleUndelete(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		methodNotAllowed(w, r, "POST")
		return
	}
	var body struct {
		IDs []string `json:"ids"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeErr(w, 400, "JSON_PARSER_ERROR", err.Error())
		return
	}
	tx := newChangeTxn(changeOrigin("soap", DefaultAPIVersion, r.Header.Get("Sforce-Call-Options")), s.userID)
	if err := s.undelete(body.IDs, tx); err != nil {
		code, msg, _ := strings.Cut(err.Error(), ": ")
		writeErr(w, 400, code, msg)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
