package redshiftconn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/sluice-dev/sluice/sdk"
)

// Redshift type OIDs pgx does not know (from the Redshift JDBC driver).
const (
	oidGeometry  = 3000
	oidGeography = 3001
	oidSuper     = 4000
	oidVarbyte   = 6551
)

const cursorAlias = "__sluice_cursor"

type sourceOptions struct {
	from   string // a table name or a parenthesised query, ready for FROM
	label  string
	cursor string
}

func parseSourceOptions(d dialect, v sdk.Values, entity string) (sourceOptions, error) {
	table := entity
	if table == "" {
		table = v.String("table", "")
	}
	query := strings.TrimSpace(strings.TrimRight(strings.TrimSpace(v.String("query", "")), ";"))
	o := sourceOptions{cursor: v.String("cursor", "")}
	switch {
	case table != "" && query != "":
		return o, errors.New("set table or query, not both")
	case query != "":
		o.from, o.label = "(\n"+query+"\n) AS q", "query"
	case table != "":
		t, err := d.parseTable(table)
		if err != nil {
			return o, err
		}
		o.from, o.label = t.String(), t.String()
	default:
		return o, errors.New("a source needs a table or a query")
	}
	return o, nil
}

// srcColumn is one result column and how it becomes Arrow.
type srcColumn struct {
	name  string
	oid   uint32
	field arrow.Field
	// sqlType is the cast used for a cursor comparison.
	sqlType string
	// typeName is the Data API's name of the type ("" on the wire).
	typeName string
}

// typeDesc names the column's type in messages.
func (c srcColumn) typeDesc() string {
	if c.typeName != "" {
		return c.typeName
	}
	return fmt.Sprintf("oid %d", c.oid)
}

// arrowFor maps a PostgreSQL/Redshift result column to Arrow.
func arrowFor(fd pgconn.FieldDescription) srcColumn {
	c := srcColumn{name: fd.Name, oid: fd.DataTypeOID}
	var dt arrow.DataType
	switch fd.DataTypeOID {
	case pgtype.BoolOID:
		dt = arrow.FixedWidthTypes.Boolean
	case pgtype.Int2OID:
		dt, c.sqlType = arrow.PrimitiveTypes.Int16, "SMALLINT"
	case pgtype.Int4OID:
		dt, c.sqlType = arrow.PrimitiveTypes.Int32, "INTEGER"
	case pgtype.Int8OID:
		dt, c.sqlType = arrow.PrimitiveTypes.Int64, "BIGINT"
	case pgtype.Float4OID:
		dt = arrow.PrimitiveTypes.Float32
	case pgtype.Float8OID:
		dt = arrow.PrimitiveTypes.Float64
	case pgtype.NumericOID:
		c.sqlType = "NUMERIC"
		if fd.TypeModifier >= 4 {
			p, s := ((fd.TypeModifier-4)>>16)&0xffff, (fd.TypeModifier-4)&0xffff
			if p <= maxDecimal {
				dt = &arrow.Decimal128Type{Precision: p, Scale: s}
				break
			}
		}
		dt = arrow.BinaryTypes.String // unconstrained or wider than 38 digits: exact text
	case pgtype.DateOID:
		dt, c.sqlType = arrow.FixedWidthTypes.Date32, "DATE"
	case pgtype.TimeOID:
		dt = arrow.FixedWidthTypes.Time64us
	case pgtype.TimestampOID:
		dt, c.sqlType = &arrow.TimestampType{Unit: arrow.Microsecond}, "TIMESTAMP"
	case pgtype.TimestamptzOID:
		dt, c.sqlType = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, "TIMESTAMPTZ"
	case pgtype.ByteaOID, oidVarbyte:
		dt = arrow.BinaryTypes.Binary
	case pgtype.TextOID, pgtype.VarcharOID, pgtype.BPCharOID, pgtype.NameOID:
		dt, c.sqlType = arrow.BinaryTypes.String, "VARCHAR"
	default: // json, jsonb, SUPER, uuid, geometry and anything else: text
		dt = arrow.BinaryTypes.String
	}
	c.field = arrow.Field{Name: fd.Name, Type: dt, Nullable: true}
	return c
}

// describe runs the source's SELECT with LIMIT 0 and maps its columns.
func describeColumns(ctx context.Context, conn *pgx.Conn, o sourceOptions) ([]srcColumn, error) {
	rows, err := conn.Query(ctx, "SELECT * FROM "+o.from+" LIMIT 0")
	if err != nil {
		return nil, fmt.Errorf("describe %s: %w", o.label, err)
	}
	fds := rows.FieldDescriptions()
	cols := make([]srcColumn, len(fds))
	for i, fd := range fds {
		cols[i] = arrowFor(fd)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("describe %s: %w", o.label, err)
	}
	return cols, nil
}

// sourceConn opens a session for reading: the wire transport or the Data
// API.
func (c *Connector) sourceConn(ctx context.Context) (dialect, session, error) {
	cfg, s, err := c.session(ctx)
	if err != nil {
		return dialect{}, nil, err
	}
	switch s.(type) {
	case *wireSession, *dataAPISession:
		return cfg.dialect(), s, nil
	}
	s.Close(context.Background())
	return dialect{}, nil, errors.New("reads need the wire transport or the Data API")
}

// describeSource maps the columns of the source's SELECT … LIMIT 0 on
// either transport.
func describeSource(ctx context.Context, s session, o sourceOptions) ([]srcColumn, error) {
	if ds, ok := s.(*dataAPISession); ok {
		return ds.describeColumns(ctx, o)
	}
	return describeColumns(ctx, s.(*wireSession).conn, o)
}

// DescribeEntity maps the table's or query's columns to an Arrow schema;
// with a cursor, the cursor column is the entity's cursor field.
func (c *Connector) DescribeEntity(ctx context.Context, req sdk.DescribeRequest) (sdk.Entity, error) {
	d, s, err := c.sourceConn(ctx)
	if err != nil {
		return sdk.Entity{}, fmt.Errorf("redshift: %w", err)
	}
	defer s.Close(context.Background())
	o, err := parseSourceOptions(d, req.Options, req.Entity)
	if err != nil {
		return sdk.Entity{}, fmt.Errorf("redshift: %w", err)
	}
	cols, err := describeSource(ctx, s, o)
	if err != nil {
		return sdk.Entity{}, fmt.Errorf("redshift: %w", err)
	}
	fields := make([]arrow.Field, len(cols))
	for i, col := range cols {
		fields[i] = col.field
	}
	ent := sdk.Entity{Name: o.label, Schema: arrow.NewSchema(fields, nil),
		WriteModes: []sdk.WriteMode{sdk.WriteInsert, sdk.WriteUpsert, sdk.WriteUpdate, sdk.WriteDelete}}
	if o.cursor != "" {
		ent.CursorFields = []string{o.cursor}
	}
	return ent, nil
}

// checkpoint is a cursor position.
type checkpoint struct {
	Cursor string `json:"cursor"`
	Value  string `json:"value"`
}

// Read streams the rows of the table or query. With a cursor it reads
// WHERE cursor > (checkpoint) ORDER BY cursor and checkpoints after each
// batch.
func (c *Connector) Read(ctx context.Context, req sdk.ReadRequest, out sdk.RecordSender) error {
	if err := c.read(ctx, req, out); err != nil {
		if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
			return fmt.Errorf("redshift: %w (%v)", cerr, err)
		}
		return fmt.Errorf("redshift: %w", err)
	}
	return nil
}

// readPlan is the SELECT of a read: the columns sent, and the checkpointed
// cursor value when resuming (the query's one parameter).
type readPlan struct {
	cols  []srcColumn
	query string
	// resume is set when the query has the cursor parameter.
	resume bool
	value  string
}

// planRead builds the read's SELECT; param is the transport's placeholder
// for the checkpointed cursor value ($1 for pgx, :name for the Data API).
func planRead(all []srcColumn, o sourceOptions, req sdk.ReadRequest, param string) (readPlan, error) {
	var p readPlan
	cols := all
	if len(req.Fields) > 0 {
		cols = cols[:0:0]
		for _, name := range req.Fields {
			found := false
			for _, col := range all {
				if col.name == name {
					cols, found = append(cols, col), true
					break
				}
			}
			if !found {
				return p, fmt.Errorf("field %q is not a column of %s", name, o.label)
			}
		}
	}
	p.cols = cols
	sel := make([]string, len(cols))
	for i, col := range cols {
		sel[i] = "s." + quoteIdent(col.name)
	}
	var where, order string
	if o.cursor != "" {
		var cur *srcColumn
		for i := range all {
			if all[i].name == o.cursor {
				cur = &all[i]
			}
		}
		if cur == nil {
			return p, fmt.Errorf("cursor %q is not a column of %s", o.cursor, o.label)
		}
		if cur.sqlType == "" {
			return p, fmt.Errorf("cursor %q has a type (%s) that cannot be compared after a restart; use an integer, numeric, date, timestamp or text column", o.cursor, cur.typeDesc())
		}
		qc := "s." + quoteIdent(o.cursor)
		sel = append(sel, "CAST("+qc+" AS VARCHAR) AS "+cursorAlias)
		if len(req.Checkpoint) > 0 {
			var cp checkpoint
			if err := json.Unmarshal(req.Checkpoint, &cp); err != nil {
				return p, fmt.Errorf("checkpoint %q: %w", req.Checkpoint, err)
			}
			if cp.Cursor != o.cursor {
				return p, fmt.Errorf("the checkpoint is a position of cursor %q, but the source's cursor is %q; reset the flow's state", cp.Cursor, o.cursor)
			}
			where = "\nWHERE " + qc + " > CAST(CAST(" + param + " AS VARCHAR) AS " + cur.sqlType + ")"
			p.resume, p.value = true, cp.Value
		}
		order = "\nORDER BY " + qc
	}
	p.query = "SELECT " + strings.Join(sel, ", ") + "\nFROM (SELECT * FROM " + o.from + ") AS s" + where + order
	return p, nil
}

func (c *Connector) read(ctx context.Context, req sdk.ReadRequest, out sdk.RecordSender) error {
	d, s, err := c.sourceConn(ctx)
	if err != nil {
		return err
	}
	defer s.Close(context.Background())
	o, err := parseSourceOptions(d, req.Options, req.Entity)
	if err != nil {
		return err
	}
	all, err := describeSource(ctx, s, o)
	if err != nil {
		return err
	}
	if ds, ok := s.(*dataAPISession); ok {
		p, err := planRead(all, o, req, ":"+cursorParam)
		if err != nil {
			return err
		}
		return ds.streamRead(ctx, p, o.cursor, req.Limits, out)
	}
	p, err := planRead(all, o, req, "$1")
	if err != nil {
		return err
	}
	var args []any
	if p.resume {
		args = append(args, p.value)
	}
	rows, err := s.(*wireSession).conn.Query(ctx, p.query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	return streamRows(ctx, rows, p.cols, o.cursor, req.Limits, out)
}

// colReader scans one column of each row and appends it to a builder.
type colReader struct {
	dest   any
	append func()
}

func newColReader(col srcColumn, b array.Builder) colReader {
	switch bb := b.(type) {
	case *array.BooleanBuilder:
		var v pgtype.Bool
		return colReader{&v, func() { appendOr(bb, v.Valid, func() { bb.Append(v.Bool) }) }}
	case *array.Int16Builder:
		var v pgtype.Int2
		return colReader{&v, func() { appendOr(bb, v.Valid, func() { bb.Append(v.Int16) }) }}
	case *array.Int32Builder:
		var v pgtype.Int4
		return colReader{&v, func() { appendOr(bb, v.Valid, func() { bb.Append(v.Int32) }) }}
	case *array.Int64Builder:
		var v pgtype.Int8
		return colReader{&v, func() { appendOr(bb, v.Valid, func() { bb.Append(v.Int64) }) }}
	case *array.Float32Builder:
		var v pgtype.Float4
		return colReader{&v, func() { appendOr(bb, v.Valid, func() { bb.Append(v.Float32) }) }}
	case *array.Float64Builder:
		var v pgtype.Float8
		return colReader{&v, func() { appendOr(bb, v.Valid, func() { bb.Append(v.Float64) }) }}
	case *array.Decimal128Builder:
		var v pgtype.Numeric
		scale := int(col.field.Type.(*arrow.Decimal128Type).Scale)
		return colReader{&v, func() {
			if !v.Valid || v.NaN || v.InfinityModifier != pgtype.Finite {
				bb.AppendNull()
				return
			}
			n := new(big.Int).Set(v.Int)
			if e := int(v.Exp) + scale; e >= 0 {
				n.Mul(n, pow10(e))
			} else {
				n.Quo(n, pow10(-e))
			}
			bb.Append(decimal128.FromBigInt(n))
		}}
	case *array.Date32Builder:
		var v pgtype.Date
		return colReader{&v, func() {
			appendOr(bb, v.Valid && v.InfinityModifier == pgtype.Finite, func() { bb.Append(arrow.Date32(floorDiv(v.Time.Unix(), 86400))) })
		}}
	case *array.Time64Builder:
		var v pgtype.Time
		return colReader{&v, func() { appendOr(bb, v.Valid, func() { bb.Append(arrow.Time64(v.Microseconds)) }) }}
	case *array.TimestampBuilder:
		if col.oid == pgtype.TimestamptzOID {
			var v pgtype.Timestamptz
			return colReader{&v, func() {
				appendOr(bb, v.Valid && v.InfinityModifier == pgtype.Finite, func() { bb.Append(arrow.Timestamp(v.Time.UnixMicro())) })
			}}
		}
		var v pgtype.Timestamp
		return colReader{&v, func() {
			appendOr(bb, v.Valid && v.InfinityModifier == pgtype.Finite, func() { bb.Append(arrow.Timestamp(v.Time.UnixMicro())) })
		}}
	case *array.BinaryBuilder:
		var v []byte
		return colReader{&v, func() {
			if v == nil {
				bb.AppendNull()
			} else {
				bb.Append(v)
			}
		}}
	case *array.StringBuilder:
		var v pgtype.Text
		return colReader{&v, func() { appendOr(bb, v.Valid, func() { bb.Append(v.String) }) }}
	}
	panic(fmt.Sprintf("redshift: no reader for %s", col.field.Type))
}

func appendOr(b array.Builder, valid bool, f func()) {
	if valid {
		f()
	} else {
		b.AppendNull()
	}
}

// batchStream cuts appended rows into batches of at most limits.MaxRows
// rows and about limits.MaxBytes bytes. With a cursor, the checkpoint after
// a batch is the last cursor value whose rows are all sent: never one
// shared with rows still to come, so resuming with > skips nothing.
type batchStream struct {
	ctx    context.Context
	b      *array.RecordBuilder
	cursor string
	limits sdk.Limits
	out    sdk.RecordSender

	n, size                              int
	lastValue, safeValue, sentCheckpoint string
}

func newBatchStream(ctx context.Context, cols []srcColumn, cursor string, limits sdk.Limits, out sdk.RecordSender) *batchStream {
	if limits.MaxRows <= 0 {
		limits.MaxRows = sdk.DefaultLimits.MaxRows
	}
	if limits.MaxBytes <= 0 {
		limits.MaxBytes = sdk.DefaultLimits.MaxBytes
	}
	fields := make([]arrow.Field, len(cols))
	for i, col := range cols {
		fields[i] = col.field
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, arrow.NewSchema(fields, nil))
	return &batchStream{ctx: ctx, b: b, cursor: cursor, limits: limits, out: out}
}

func (s *batchStream) release() { s.b.Release() }

// added counts a row just appended to the builders: its size in bytes and
// its cursor value (valid false for NULL). A full batch is sent.
func (s *batchStream) added(size int, cur string, valid bool) error {
	s.size += size
	if s.cursor != "" && valid && cur != s.lastValue {
		s.safeValue, s.lastValue = s.lastValue, cur
	}
	s.n++
	if s.n >= s.limits.MaxRows || s.size >= s.limits.MaxBytes {
		if err := s.send(false); err != nil {
			return err
		}
		return s.ctx.Err()
	}
	return nil
}

// send sends the batch so far and checkpoints; final after the last row.
func (s *batchStream) send(final bool) error {
	if s.n > 0 {
		rec := s.b.NewRecordBatch()
		err := s.out.Send(rec)
		rec.Release()
		if err != nil {
			return err
		}
	}
	s.n, s.size = 0, 0
	if s.cursor == "" {
		return nil
	}
	cp := s.safeValue
	if final {
		cp = s.lastValue
	}
	if cp == "" || cp == s.sentCheckpoint {
		return nil
	}
	s.sentCheckpoint = cp
	pos, _ := json.Marshal(checkpoint{Cursor: s.cursor, Value: cp})
	return s.out.Checkpoint(pos)
}

// streamRows turns pgx rows into batches (see batchStream).
func streamRows(ctx context.Context, rows pgx.Rows, cols []srcColumn, cursor string, limits sdk.Limits, out sdk.RecordSender) error {
	bs := newBatchStream(ctx, cols, cursor, limits, out)
	defer bs.release()
	readers := make([]colReader, len(cols))
	dests := make([]any, len(cols), len(cols)+1)
	for i, col := range cols {
		readers[i] = newColReader(col, bs.b.Field(i))
		dests[i] = readers[i].dest
	}
	var cur pgtype.Text
	if cursor != "" {
		dests = append(dests, &cur)
	}
	for rows.Next() {
		size := 0
		for _, v := range rows.RawValues() {
			size += len(v) + 8
		}
		if err := rows.Scan(dests...); err != nil {
			return err
		}
		for i := range readers {
			readers[i].append()
		}
		if err := bs.added(size, cur.String, cur.Valid); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return bs.send(true)
}
