package sfemu

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
)

// dmlError is a per-record error (statusCode, not errorCode).
type dmlError struct {
	StatusCode string   `json:"statusCode"`
	Message    string   `json:"message"`
	Fields     []string `json:"fields"`
}

func dmlErr(code, msg string, fields ...string) *dmlError {
	if fields == nil {
		fields = []string{}
	}
	return &dmlError{StatusCode: code, Message: msg, Fields: fields}
}

func (e *dmlError) write(w http.ResponseWriter, status int) {
	var fields []string
	if len(e.Fields) > 0 {
		fields = e.Fields
	}
	writeErr(w, status, e.StatusCode, e.Message, fields...)
}

// ---- unique / external id index ----

type uniqueIndex map[string][]*record

func (t *table) index(f *Field) uniqueIndex {
	if t.uniq == nil {
		t.uniq = map[int]uniqueIndex{}
	}
	if ix := t.uniq[f.idx]; ix != nil {
		return ix
	}
	ix := uniqueIndex{}
	for _, r := range t.recs {
		if r.purged {
			continue
		}
		if v := r.vals[f.idx]; v != nil {
			k := strings.ToLower(csvValue(f, v))
			ix[k] = append(ix[k], r)
		}
	}
	t.uniq[f.idx] = ix
	return ix
}

func (t *table) reindex(r *record, old, new []any) {
	for idx, ix := range t.uniq {
		f := t.obj.fields[idx]
		var ov, nv any
		if old != nil {
			ov = old[idx]
		}
		if new != nil {
			nv = new[idx]
		}
		if ov == nv {
			continue
		}
		if ov != nil {
			k := strings.ToLower(csvValue(f, ov))
			list := ix[k]
			for i, x := range list {
				if x == r {
					list = append(list[:i:i], list[i+1:]...)
					break
				}
			}
			if len(list) == 0 {
				delete(ix, k)
			} else {
				ix[k] = list
			}
		}
		if nv != nil {
			k := strings.ToLower(csvValue(f, nv))
			ix[k] = append(ix[k], r)
		}
	}
}

// lookup finds live records whose field equals value.
func (t *table) lookup(f *Field, value string) []*record {
	if f.Type == "id" {
		if r := t.get(value); r != nil {
			return []*record{r}
		}
		return nil
	}
	var out []*record
	for _, r := range t.index(f)[strings.ToLower(value)] {
		if !r.purged && !r.deleted(t.obj) {
			out = append(out, r)
		}
	}
	return out
}

// ---- building records ----

// buildRecord validates and converts the fields of m for a new record (base
// nil) or an update of base; it returns the new values (a fresh slice).
// Tables must be locked.
func (s *Server) buildRecord(o *sobject, t *table, m map[string]any, create bool, nowMs int64) ([]any, []*dmlError) {
	return s.buildRecordAs(o, t, nil, m, create, nowMs, s.userID)
}

func (s *Server) buildRecordAs(o *sobject, t *table, base []any, m map[string]any, create bool, nowMs int64, user string) ([]any, []*dmlError) {
	vals := make([]any, len(o.fields))
	copy(vals, base)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == "attributes" || (!create && strings.EqualFold(k, "Id")) {
			continue
		}
		v := m[k]
		f := o.field(k)
		if f == nil {
			return nil, []*dmlError{dmlErr("INVALID_FIELD", fmt.Sprintf("No such column '%s' on sobject of type %s", k, o.name))}
		}
		if (create && !f.create) || (!create && !f.update) {
			return nil, []*dmlError{dmlErr("INVALID_FIELD_FOR_INSERT_UPDATE", fmt.Sprintf("Unable to create/update fields: %s. Please check the security settings of this field and verify that it is read/write for your profile or permission set.", f.Name), f.Name)}
		}
		cv, err := convertJSON(f, v)
		if err != nil {
			return nil, []*dmlError{dmlErr("JSON_PARSER_ERROR", err.Error())}
		}
		if e := s.checkValue(o, f, cv); e != nil {
			return nil, []*dmlError{e}
		}
		if (f.Type == "reference") && cv != nil {
			cv = normID(cv.(string))
		}
		vals[f.idx] = cv
	}
	return s.finish(o, t, vals, base, create, nowMs, user)
}

// checkValue validates one converted value (length, references).
func (s *Server) checkValue(o *sobject, f *Field, v any) *dmlError {
	str, ok := v.(string)
	if !ok {
		return nil
	}
	if isText(f.Type) && f.Type != "reference" && f.Type != "id" && f.Length > 0 && len([]rune(str)) > f.Length {
		return dmlErr("STRING_TOO_LONG", fmt.Sprintf("%s: data value too large: %s (max length=%d)", f.Label, str, f.Length), f.Name)
	}
	if f.Type == "reference" {
		n := normID(str)
		if n == "" {
			return dmlErr("MALFORMED_ID", fmt.Sprintf("%s: id value of incorrect type: %s", f.Label, str), f.Name)
		}
		var target *table
		for _, to := range f.ReferenceTo {
			if tt := s.tables[strings.ToLower(to)]; tt != nil && tt.obj.prefix == n[:3] {
				target = tt
			}
		}
		if target == nil {
			known := false
			for _, to := range f.ReferenceTo {
				if s.tables[strings.ToLower(to)] != nil {
					known = true
				}
			}
			if known {
				return dmlErr("FIELD_INTEGRITY_EXCEPTION", fmt.Sprintf("%s: id value of incorrect type: %s", f.Label, str), f.Name)
			}
			return nil
		}
		r := target.get(n)
		if r == nil {
			return dmlErr("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", f.Name)
		}
		if r.deleted(target.obj) {
			return dmlErr("ENTITY_IS_DELETED", "entity is deleted", f.Name)
		}
	}
	return nil
}

// finish applies defaults, derived and system fields, then checks required
// and unique fields.
func (s *Server) finish(o *sobject, t *table, vals, base []any, create bool, nowMs int64, user string) ([]any, []*dmlError) {
	nowMs -= nowMs % 1000 // Salesforce keeps datetimes to the second
	if create {
		for _, f := range o.fields {
			if vals[f.idx] == nil && f.DefaultValue != nil && f.create {
				vals[f.idx] = f.DefaultValue
			}
			if vals[f.idx] == nil && f.Type == "boolean" {
				vals[f.idx] = false
			}
		}
		if o.iOwner >= 0 && vals[o.iOwner] == nil {
			vals[o.iOwner] = user
		}
	}
	var missing []string
	for _, f := range o.fields {
		if !f.nillable && f.create && !f.DefaultedOnCreate && vals[f.idx] == nil {
			missing = append(missing, f.Name)
		}
		if !f.nillable && f.DefaultedOnCreate && f.create && !create && vals[f.idx] == nil && base != nil && base[f.idx] != nil {
			missing = append(missing, f.Name)
		}
	}
	if len(missing) > 0 {
		return nil, []*dmlError{dmlErr("REQUIRED_FIELD_MISSING", "Required fields are missing: ["+strings.Join(missing, ", ")+"]", missing...)}
	}
	for _, f := range o.fields {
		if !(f.Unique || f.ExternalID) || f.Type == "id" || vals[f.idx] == nil {
			continue
		}
		if base != nil && base[f.idx] == vals[f.idx] {
			continue
		}
		for _, r := range t.lookup(f, csvValue(f, vals[f.idx])) {
			if base == nil || r.vals[o.iID] != base[o.iID] {
				return nil, []*dmlError{dmlErr("DUPLICATE_VALUE", fmt.Sprintf("duplicate value found: %s duplicates value on record with id: %s", f.Name, r.id(o)), f.Name)}
			}
		}
	}
	// derived fields
	if nf := o.field("Name"); nf != nil && !nf.create && o.field("LastName") != nil {
		first, _ := vals[o.field("FirstName").idx].(string)
		last, _ := vals[o.field("LastName").idx].(string)
		vals[nf.idx] = strings.TrimSpace(first + " " + last)
	}
	switch o.name {
	case "Opportunity":
		st, _ := vals[o.field("StageName").idx].(string)
		vals[o.field("IsClosed").idx] = strings.HasPrefix(st, "Closed")
		vals[o.field("IsWon").idx] = st == "Closed Won"
	case "Case":
		st, _ := vals[o.field("Status").idx].(string)
		closed := st == "Closed"
		vals[o.field("IsClosed").idx] = closed
		if closed && vals[o.field("ClosedDate").idx] == nil {
			vals[o.field("ClosedDate").idx] = dtVal(nowMs)
		} else if !closed {
			vals[o.field("ClosedDate").idx] = nil
		}
	}
	if create {
		if nf := o.nameField; nf != nil && nf.AutoNumber {
			t.autoNum++
			if o.name == "Case" {
				vals[nf.idx] = fmt.Sprintf("%08d", 1000+len(t.recs)+int(t.autoNum))
			} else {
				vals[nf.idx] = fmt.Sprintf("%s-%06d", strings.ToUpper(o.prefix), len(t.recs)+int(t.autoNum))
			}
		}
		vals[o.iDeleted] = false
		vals[o.iCreated] = dtVal(nowMs)
		vals[o.iCreatedBy] = user
	}
	vals[o.iModified] = dtVal(nowMs)
	vals[o.iStamp] = dtVal(nowMs)
	vals[o.iModifiedBy] = user
	return vals, nil
}

// commitCreate, like the commit functions after it, applies a validated
// write and publishes its change event as part of tx (nil: none); tables
// must be write-locked.
func (s *Server) commitCreate(tx *changeTxn, t *table, vals []any) string {
	id := t.nextID()
	vals[t.obj.iID] = id
	r := &record{vals: vals}
	t.recs = append(t.recs, r)
	t.byID[id] = r
	t.reindex(r, nil, vals)
	s.emitChange(tx, t.obj, changeCreate, id, nil, vals)
	return id
}

func (s *Server) commitUpdate(tx *changeTxn, t *table, r *record, vals []any) {
	old := r.vals
	t.reindex(r, old, vals)
	r.vals = vals
	s.emitChange(tx, t.obj, changeUpdate, r.id(t.obj), old, vals)
}

func (s *Server) commitDelete(tx *changeTxn, t *table, r *record, hard bool, nowMs int64, user string) {
	id := r.id(t.obj)
	if hard {
		t.reindex(r, r.vals, nil)
		r.purged = true
		delete(t.byID, id)
		s.emitChange(tx, t.obj, changeDelete, id, r.vals, nil)
		return
	}
	o := t.obj
	nowMs -= nowMs % 1000
	vals := append([]any(nil), r.vals...)
	vals[o.iDeleted] = true
	vals[o.iModified], vals[o.iStamp], vals[o.iModifiedBy] = dtVal(nowMs), dtVal(nowMs), user
	t.reindex(r, r.vals, nil)
	r.vals = vals
	s.emitChange(tx, o, changeDelete, id, nil, nil)
}

func (s *Server) commitUndelete(tx *changeTxn, t *table, r *record, nowMs int64, user string) {
	o := t.obj
	nowMs -= nowMs % 1000
	vals := append([]any(nil), r.vals...)
	vals[o.iDeleted] = false
	vals[o.iModified], vals[o.iStamp], vals[o.iModifiedBy] = dtVal(nowMs), dtVal(nowMs), user
	// A lazily built index may already hold the deleted record: take it
	// out before putting it back so it is listed once.
	t.reindex(r, r.vals, nil)
	t.reindex(r, nil, vals)
	r.vals = vals
	s.emitChange(tx, o, changeUndelete, r.id(o), nil, vals)
}

// ---- request helpers ----

func decodeBody(r *http.Request, v any) error {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	return nil
}

func jsonParseErr(w http.ResponseWriter, err error) {
	writeErr(w, 400, "JSON_PARSER_ERROR", "Unexpected token while parsing the request body: "+err.Error())
}

func (s *Server) object(name string) (*sobject, *table) {
	o := s.objects[strings.ToLower(name)]
	if o == nil {
		return nil, nil
	}
	return o, s.tables[strings.ToLower(name)]
}

// ---- /sobjects ----

func (s *Server) routeSObjects(c *reqCtx) {
	r := c.rest
	m := c.r.Method
	if len(r) == 1 {
		if m != http.MethodGet {
			methodNotAllowed(c.w, c.r, "GET", "HEAD")
			return
		}
		var list []any
		for _, o := range s.order {
			list = append(list, o.globalEntry(c.version))
		}
		for _, o := range s.order {
			list = append(list, changeEventEntry(o, c.version))
		}
		writeJSON(c.w, 200, map[string]any{"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": list})
		return
	}
	o, t := s.object(r[1])
	if o == nil {
		notFound(c.w)
		return
	}
	switch {
	case len(r) == 2:
		switch m {
		case http.MethodGet:
			writeJSON(c.w, 200, map[string]any{"objectDescribe": o.globalEntry(c.version), "recentItems": []any{}})
		case http.MethodPost:
			s.createOne(c, o, t)
		default:
			methodNotAllowed(c.w, c.r, "GET", "HEAD", "POST")
		}
	case len(r) == 3 && r[2] == "describe":
		if m != http.MethodGet {
			methodNotAllowed(c.w, c.r, "GET", "HEAD")
			return
		}
		writeJSON(c.w, 200, s.describe(o, c.version))
	case len(r) == 3:
		switch m {
		case http.MethodGet:
			s.getOne(c, o, t, nil, r[2])
		case http.MethodPatch:
			s.updateOne(c, o, t, r[2])
		case http.MethodDelete:
			s.deleteOne(c, o, t, nil, r[2])
		default:
			methodNotAllowed(c.w, c.r, "GET", "PATCH", "HEAD", "DELETE")
		}
	case len(r) == 4:
		f := o.field(r[2])
		if f == nil || !(f.ExternalID || f.IDLookup || f.Type == "id") {
			writeErr(c.w, 404, "NOT_FOUND", "Provided external ID field does not exist or is not accessible: "+r[2])
			return
		}
		switch m {
		case http.MethodGet:
			s.getOne(c, o, t, f, r[3])
		case http.MethodPatch:
			s.upsertOne(c, o, t, f, r[3])
		case http.MethodDelete:
			s.deleteOne(c, o, t, f, r[3])
		default:
			methodNotAllowed(c.w, c.r, "GET", "PATCH", "HEAD", "DELETE")
		}
	default:
		notFound(c.w)
	}
}

func (s *Server) createOne(c *reqCtx, o *sobject, t *table) {
	var m map[string]any
	if err := decodeBody(c.r, &m); err != nil {
		jsonParseErr(c.w, err)
		return
	}
	if s.takeLockFault() {
		writeErr(c.w, 400, "UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record")
		return
	}
	if _, ok := lowerKey(m, "id"); ok {
		writeErr(c.w, 400, "INVALID_FIELD", "Unable to create/update fields: Id. Please check the security settings of this field and verify that it is read/write for your profile or permission set.", "Id")
		return
	}
	s.mu.Lock()
	vals, errs := s.buildRecordAs(o, t, nil, m, true, s.now().UnixMilli(), c.sess.userID)
	var id string
	if errs == nil {
		id = s.commitCreate(s.restTxn(c), t, vals)
	}
	s.mu.Unlock()
	if errs != nil {
		errs[0].write(c.w, 400)
		return
	}
	c.w.Header().Set("Location", "/services/data/v"+c.version+"/sobjects/"+o.name+"/"+id)
	writeJSON(c.w, 201, saveResult{ID: id, Success: true, Errors: []*dmlError{}})
}

func lowerKey(m map[string]any, k string) (any, bool) {
	for key, v := range m {
		if strings.EqualFold(key, k) {
			return v, true
		}
	}
	return nil, false
}

// find returns the single live or deleted record identified by id or by an
// external id field value; status answers when it is not there.
func (s *Server) find(o *sobject, t *table, f *Field, value string) ([]*record, bool) {
	if f == nil || f.Type == "id" {
		r := t.get(value)
		if r == nil {
			return nil, false
		}
		return []*record{r}, true
	}
	recs := t.lookup(f, value)
	return recs, len(recs) > 0
}

func (s *Server) getOne(c *reqCtx, o *sobject, t *table, f *Field, value string) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	recs, ok := s.find(o, t, f, value)
	if !ok {
		notFound(c.w)
		return
	}
	if len(recs) > 1 {
		s.multipleChoices(c, o, recs)
		return
	}
	r := recs[0]
	if r.deleted(o) {
		writeErr(c.w, 404, "ENTITY_IS_DELETED", "entity is deleted")
		return
	}
	var refs []*fieldRef
	if fl := c.r.URL.Query().Get("fields"); fl != "" {
		q := &soqlQuery{src: fl}
		for _, name := range strings.Split(fl, ",") {
			ref, err := s.resolvePath(q, o, strings.Split(strings.TrimSpace(name), "."), 0)
			if err != nil {
				writeErr(c.w, 400, "INVALID_FIELD", fmt.Sprintf("No such column '%s' on entity '%s'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.", strings.TrimSpace(name), o.name))
				return
			}
			refs = append(refs, ref)
		}
	} else {
		for _, fd := range o.fields {
			refs = append(refs, &fieldRef{objs: []*sobject{o}, leaf: fd, names: []string{fd.Name}})
		}
	}
	writeRaw(c.w, 200, s.appendRecord(nil, c.version, o, r.vals, buildTree(refs)))
}

func (s *Server) multipleChoices(c *reqCtx, o *sobject, recs []*record) {
	var urls []string
	for _, r := range recs {
		urls = append(urls, "/services/data/v"+c.version+"/sobjects/"+o.name+"/"+r.id(o))
	}
	writeJSON(c.w, http.StatusMultipleChoices, urls)
}

func (s *Server) updateOne(c *reqCtx, o *sobject, t *table, id string) {
	var m map[string]any
	if err := decodeBody(c.r, &m); err != nil {
		jsonParseErr(c.w, err)
		return
	}
	if s.takeLockFault() {
		writeErr(c.w, 400, "UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record or 1 records: "+id)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := t.get(id)
	if r == nil {
		notFound(c.w)
		return
	}
	if r.deleted(o) {
		writeErr(c.w, 404, "ENTITY_IS_DELETED", "entity is deleted")
		return
	}
	vals, errs := s.buildRecordAs(o, t, r.vals, m, false, s.now().UnixMilli(), c.sess.userID)
	if errs != nil {
		errs[0].write(c.w, 400)
		return
	}
	s.commitUpdate(s.restTxn(c), t, r, vals)
	c.w.WriteHeader(http.StatusNoContent)
}

func (s *Server) upsertOne(c *reqCtx, o *sobject, t *table, f *Field, value string) {
	var m map[string]any
	if err := decodeBody(c.r, &m); err != nil {
		jsonParseErr(c.w, err)
		return
	}
	if s.takeLockFault() {
		writeErr(c.w, 400, "UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	res, status, errs, multi := s.upsert(s.restTxn(c), o, t, f, value, m)
	if multi != nil {
		s.multipleChoices(c, o, multi)
		return
	}
	if errs != nil {
		errs[0].write(c.w, 400)
		return
	}
	writeJSON(c.w, status, res)
}

type saveResult struct {
	ID      string      `json:"id,omitempty"`
	Success bool        `json:"success"`
	Errors  []*dmlError `json:"errors"`
	Created *bool       `json:"created,omitempty"`
}

// upsert inserts or updates by external id; tables must be write-locked.
func (s *Server) upsert(tx *changeTxn, o *sobject, t *table, f *Field, value string, m map[string]any) (saveResult, int, []*dmlError, []*record) {
	user := tx.user
	var recs []*record
	if value != "" {
		recs = t.lookup(f, value)
	}
	if len(recs) > 1 {
		return saveResult{}, 0, nil, recs
	}
	now := s.now().UnixMilli()
	if len(recs) == 1 {
		m2 := map[string]any{}
		for k, v := range m {
			if !strings.EqualFold(k, f.Name) {
				m2[k] = v
			}
		}
		vals, errs := s.buildRecordAs(o, t, recs[0].vals, m2, false, now, user)
		if errs != nil {
			return saveResult{}, 0, errs, nil
		}
		s.commitUpdate(tx, t, recs[0], vals)
		return saveResult{ID: recs[0].id(o), Success: true, Errors: []*dmlError{}, Created: bp(false)}, 200, nil, nil
	}
	m2 := map[string]any{}
	for k, v := range m {
		m2[k] = v
	}
	if f.Type != "id" && value != "" {
		m2[f.Name] = value
	}
	vals, errs := s.buildRecordAs(o, t, nil, m2, true, now, user)
	if errs != nil {
		return saveResult{}, 0, errs, nil
	}
	id := s.commitCreate(tx, t, vals)
	return saveResult{ID: id, Success: true, Errors: []*dmlError{}, Created: bp(true)}, 201, nil, nil
}

func (s *Server) deleteOne(c *reqCtx, o *sobject, t *table, f *Field, value string) {
	if s.takeLockFault() {
		writeErr(c.w, 400, "UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record or 1 records: "+value)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	recs, ok := s.find(o, t, f, value)
	if !ok {
		notFound(c.w)
		return
	}
	if len(recs) > 1 {
		s.multipleChoices(c, o, recs)
		return
	}
	if recs[0].deleted(o) {
		writeErr(c.w, 404, "ENTITY_IS_DELETED", "entity is deleted")
		return
	}
	s.commitDelete(s.restTxn(c), t, recs[0], false, s.now().UnixMilli(), c.sess.userID)
	c.w.WriteHeader(http.StatusNoContent)
}

// ---- sObject Collections ----

const rolledBack = "Record rolled back because not all records were valid and the request was using AllOrNone header"

type plannedOp struct {
	t      *table
	rec    *record // update/delete target
	vals   []any
	delete bool
	create bool
	err    *dmlError
}

func (s *Server) handleCollections(c *reqCtx) {
	r := c.rest // composite, sobjects, ...
	m := c.r.Method
	switch {
	case len(r) == 2 && m == http.MethodPost:
		s.collectionsWrite(c, true, nil, nil)
	case len(r) == 2 && m == http.MethodPatch:
		s.collectionsWrite(c, false, nil, nil)
	case len(r) == 2 && m == http.MethodDelete:
		s.collectionsDelete(c)
	case len(r) == 3 && (m == http.MethodGet || m == http.MethodPost):
		s.collectionsRetrieve(c, r[2])
	case len(r) == 4 && m == http.MethodPatch:
		o, t := s.object(r[2])
		if o == nil {
			writeErr(c.w, 400, "INVALID_TYPE", "sObject type '"+r[2]+"' is not supported.")
			return
		}
		f := o.field(r[3])
		if f == nil || !(f.ExternalID || f.IDLookup) {
			writeErr(c.w, 400, "INVALID_FIELD", "Field name provided, "+r[3]+" is not an External ID or indexed field for "+o.name)
			return
		}
		_ = t
		s.collectionsWrite(c, false, o, f)
	case len(r) == 2:
		methodNotAllowed(c.w, c.r, "POST", "PATCH", "DELETE")
	default:
		notFound(c.w)
	}
}

func (s *Server) collectionsWrite(c *reqCtx, create bool, upsertObj *sobject, extField *Field) {
	var body struct {
		AllOrNone bool             `json:"allOrNone"`
		Records   []map[string]any `json:"records"`
	}
	if err := decodeBody(c.r, &body); err != nil {
		jsonParseErr(c.w, err)
		return
	}
	if len(body.Records) > 200 {
		writeErr(c.w, 400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records into this call")
		return
	}
	types := make([]*sobject, len(body.Records))
	for i, rec := range body.Records {
		attrs, _ := rec["attributes"].(map[string]any)
		typ, _ := attrs["type"].(string)
		if typ == "" {
			writeErr(c.w, 400, "INVALID_TYPE", "Must send a concrete entity type.")
			return
		}
		o := s.objects[strings.ToLower(typ)]
		if o == nil {
			writeErr(c.w, 400, "INVALID_TYPE", "sObject type '"+typ+"' is not supported.")
			return
		}
		if upsertObj != nil && o != upsertObj {
			writeErr(c.w, 400, "INVALID_TYPE", "All records must be of type "+upsertObj.name)
			return
		}
		types[i] = o
	}
	now := s.now().UnixMilli()
	user := c.sess.userID
	s.mu.Lock()
	defer s.mu.Unlock()
	ops := make([]plannedOp, len(body.Records))
	for i, rec := range body.Records {
		o := types[i]
		t := s.tables[strings.ToLower(o.name)]
		op := &ops[i]
		op.t = t
		if s.takeLockFault() {
			op.err = dmlErr("UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record or 1 records: "+fmt.Sprint(rec["id"]))
			continue
		}
		idv, hasID := lowerKey(rec, "id")
		switch {
		case create:
			if hasID {
				op.err = dmlErr("INVALID_FIELD", "cannot specify Id in an insert call", "Id")
				continue
			}
			vals, errs := s.buildRecordAs(o, t, nil, rec, true, now, user)
			if errs != nil {
				op.err = errs[0]
				continue
			}
			op.vals, op.create = vals, true
		case upsertObj != nil:
			ext, _ := lowerKey(rec, extField.Name)
			extS, _ := ext.(string)
			if n, ok := ext.(json.Number); ok {
				extS = string(n)
			}
			if extField.Type == "id" {
				ids, _ := idv.(string)
				extS = ids
			}
			var recs []*record
			if extS != "" {
				recs = t.lookup(extField, extS)
			}
			if len(recs) > 1 {
				op.err = dmlErr("DUPLICATE_EXTERNAL_ID", fmt.Sprintf("%s: more than one record found for external id field: %v", extField.Name, idsOf(o, recs)), extField.Name)
				continue
			}
			if len(recs) == 1 {
				m2 := map[string]any{}
				for k, v := range rec {
					if !strings.EqualFold(k, extField.Name) {
						m2[k] = v
					}
				}
				vals, errs := s.buildRecordAs(o, t, recs[0].vals, m2, false, now, user)
				if errs != nil {
					op.err = errs[0]
					continue
				}
				op.rec, op.vals = recs[0], vals
			} else {
				vals, errs := s.buildRecordAs(o, t, nil, rec, true, now, user)
				if errs != nil {
					op.err = errs[0]
					continue
				}
				op.vals, op.create = vals, true
			}
		default: // update
			ids, _ := idv.(string)
			if ids == "" {
				op.err = dmlErr("MISSING_ARGUMENT", "Id not specified in an update call", "Id")
				continue
			}
			if normID(ids) == "" {
				op.err = dmlErr("MALFORMED_ID", o.label+" ID: id value of incorrect type: "+ids, "Id")
				continue
			}
			r := t.get(ids)
			if r == nil {
				op.err = dmlErr("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
				continue
			}
			if r.deleted(o) {
				op.err = dmlErr("ENTITY_IS_DELETED", "entity is deleted")
				continue
			}
			vals, errs := s.buildRecordAs(o, t, r.vals, rec, false, now, user)
			if errs != nil {
				op.err = errs[0]
				continue
			}
			op.rec, op.vals = r, vals
		}
	}
	s.writeCollectionResults(c, ops, body.AllOrNone, upsertObj != nil, now, user)
}

func idsOf(o *sobject, recs []*record) string {
	var ids []string
	for _, r := range recs {
		ids = append(ids, r.id(o))
	}
	return "[" + strings.Join(ids, ", ") + "]"
}

// writeCollectionResults commits the planned operations (all or none when
// asked) and writes one result per input; tables must be write-locked.
func (s *Server) writeCollectionResults(c *reqCtx, ops []plannedOp, allOrNone, withCreated bool, now int64, user string) {
	failed := false
	for _, op := range ops {
		if op.err != nil {
			failed = true
		}
	}
	results := make([]saveResult, len(ops))
	tx := s.restTxn(c)
	for i := range ops {
		op := &ops[i]
		switch {
		case op.err != nil:
			results[i] = saveResult{Success: false, Errors: []*dmlError{op.err}}
		case allOrNone && failed:
			results[i] = saveResult{Success: false, Errors: []*dmlError{dmlErr("ALL_OR_NONE_OPERATION_ROLLED_BACK", rolledBack)}}
		default:
			res := saveResult{Success: true, Errors: []*dmlError{}}
			switch {
			case op.delete:
				s.commitDelete(tx, op.t, op.rec, false, now, user)
				res.ID = op.rec.id(op.t.obj)
			case op.create:
				res.ID = s.commitCreate(tx, op.t, op.vals)
			default:
				s.commitUpdate(tx, op.t, op.rec, op.vals)
				res.ID = op.rec.id(op.t.obj)
			}
			if withCreated {
				res.Created = bp(op.create)
			}
			results[i] = res
		}
	}
	writeJSON(c.w, 200, results)
}

// recordByID finds the record with normalized id n in the table its key
// prefix names; r is nil when there is none (t may still be found).
func (s *Server) recordByID(n string) (t *table, r *record) {
	for _, tt := range s.tables {
		if tt.obj.prefix == n[:3] {
			t = tt
		}
	}
	if t != nil {
		r = t.get(n)
	}
	return t, r
}

func (s *Server) collectionsDelete(c *reqCtx) {
	q := c.r.URL.Query()
	idList := q.Get("ids")
	if idList == "" {
		writeErr(c.w, 400, "MISSING_ARGUMENT", "ids parameter is required")
		return
	}
	ids := strings.Split(idList, ",")
	if len(ids) > 200 {
		writeErr(c.w, 400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records into this call")
		return
	}
	allOrNone := strings.EqualFold(q.Get("allOrNone"), "true")
	now := s.now().UnixMilli()
	s.mu.Lock()
	defer s.mu.Unlock()
	ops := make([]plannedOp, len(ids))
	for i, id := range ids {
		op := &ops[i]
		op.delete = true
		n := normID(strings.TrimSpace(id))
		if n == "" {
			op.err = dmlErr("MALFORMED_ID", "malformed id "+id)
			continue
		}
		t, r := s.recordByID(n)
		if r == nil {
			op.err = dmlErr("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
			continue
		}
		if r.deleted(t.obj) {
			op.err = dmlErr("ENTITY_IS_DELETED", "entity is deleted")
			continue
		}
		if s.takeLockFault() {
			op.err = dmlErr("UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record or 1 records: "+n)
			continue
		}
		op.t, op.rec = t, r
	}
	s.writeCollectionResults(c, ops, allOrNone, false, now, c.sess.userID)
}

func (s *Server) collectionsRetrieve(c *reqCtx, objName string) {
	o, t := s.object(objName)
	if o == nil {
		notFound(c.w)
		return
	}
	var ids, fields []string
	if c.r.Method == http.MethodPost {
		var body struct {
			IDs    []string `json:"ids"`
			Fields []string `json:"fields"`
		}
		if err := decodeBody(c.r, &body); err != nil {
			jsonParseErr(c.w, err)
			return
		}
		ids, fields = body.IDs, body.Fields
	} else {
		q := c.r.URL.Query()
		if v := q.Get("ids"); v != "" {
			ids = strings.Split(v, ",")
		}
		if v := q.Get("fields"); v != "" {
			fields = strings.Split(v, ",")
		}
	}
	if len(fields) == 0 {
		writeErr(c.w, 400, "MISSING_ARGUMENT", "fields parameter is required")
		return
	}
	var refs []*fieldRef
	qq := &soqlQuery{}
	for _, name := range fields {
		ref, err := s.resolvePath(qq, o, strings.Split(strings.TrimSpace(name), "."), 0)
		if err != nil {
			writeErr(c.w, 400, "INVALID_FIELD", fmt.Sprintf("No such column '%s' on entity '%s'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.", strings.TrimSpace(name), o.name))
			return
		}
		refs = append(refs, ref)
	}
	tree := buildTree(refs)
	s.mu.RLock()
	defer s.mu.RUnlock()
	b := []byte{'['}
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		r := t.get(strings.TrimSpace(id))
		if r == nil || r.deleted(o) {
			b = append(b, "null"...)
			continue
		}
		b = s.appendRecord(b, c.version, o, r.vals, tree)
	}
	writeRaw(c.w, 200, append(b, ']'))
}
