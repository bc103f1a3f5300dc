package redshiftconn

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/sluice-dev/sluice/sdk"
)

// Column names the loader adds to its staging tables. Fields with these
// names are refused (foldFields), so they never meet a loaded column.
const (
	seqColumn = "__sluice_seq" // arrival order of a staged row
	rnColumn  = "__sluice_rn"  // its rank among rows sharing a key
	// deletedColumn is true on a staged row that is a change event's
	// delete. The merge only asks whether a key's last event removes it,
	// so a BOOLEAN is enough; the change type's text stays out of the
	// stage and out of the target.
	deletedColumn = "__sluice_deleted"
)

// column is one target column.
type column struct {
	Name string // folded
	Type colType
}

// loadSQL generates every statement of one load. The same text runs on
// Redshift and PostgreSQL except where the dialect says otherwise (COPY's
// source, LOCK, DISTKEY/SORTKEY, the VARBYTE/SUPER spellings).
type loadSQL struct {
	d      dialect
	table  tableName
	mode   sdk.WriteMode
	cols   []string // staged columns, in CSV order, without the loader's own
	keys   []string
	stage  string // temp table names (temp tables cannot be schema-qualified)
	dedup  string
	create []column // CREATE TABLE columns when the table is missing
	add    []column // ADD COLUMN, one per statement
	// Redshift table attributes, used only when the loader creates the table.
	distKey string
	sortKey []string
	// deletes stages each row's change-event marker (deletedColumn) and
	// merges deletes along with the upsert or update.
	deletes bool
}

// keyed reports whether the mode matches rows by key, and so stages a
// sequence column and de-duplicates.
func (s *loadSQL) keyed() bool { return s.mode != sdk.WriteInsert }

func identList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = quoteIdent(n)
	}
	return strings.Join(q, ", ")
}

// createTable is CREATE TABLE IF NOT EXISTS with every column nullable.
func (s *loadSQL) createTable() string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE IF NOT EXISTS %s (\n", s.table)
	for i, c := range s.create {
		sep := ","
		if i == len(s.create)-1 {
			sep = ""
		}
		fmt.Fprintf(&b, "  %s %s%s\n", quoteIdent(c.Name), s.d.ddl(c.Type), sep)
	}
	b.WriteString(")")
	if s.d.redshift {
		if s.distKey != "" {
			fmt.Fprintf(&b, "\nDISTKEY (%s)", quoteIdent(s.distKey))
		}
		if len(s.sortKey) > 0 {
			fmt.Fprintf(&b, "\nSORTKEY (%s)", identList(s.sortKey))
		}
	}
	return b.String()
}

// addColumn is one ALTER TABLE … ADD COLUMN: Redshift allows one per
// statement, and new columns are nullable (Redshift cannot drop NOT NULL).
func (s *loadSQL) addColumn(c column) string {
	return fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s %s", s.table, quoteIdent(c.Name), s.d.ddl(c.Type))
}

// lock serializes loads into the table on Redshift, where concurrent
// writers otherwise fail with serializable isolation violations (1023).
// PostgreSQL needs no table lock: row locks and the retry cover it.
func (s *loadSQL) lock() string {
	if !s.d.redshift {
		return ""
	}
	return "LOCK " + s.table.String()
}

func (s *loadSQL) createStage() []string {
	if s.deletes {
		// A delete row carries its key and nulls, so the stage must take
		// NULL in every other column. LIKE copies the target's NOT NULL
		// constraints (in both databases); CREATE TABLE AS copies only the
		// column types, and holds just the loaded columns, so the marker
		// columns cannot meet a target column of the same name.
		return []string{fmt.Sprintf("CREATE TEMP TABLE %s AS\nSELECT %s, CAST(NULL AS BIGINT) AS %s, CAST(NULL AS BOOLEAN) AS %s\nFROM %s\nWHERE 1 = 0",
			quoteIdent(s.stage), identList(s.cols), quoteIdent(seqColumn), quoteIdent(deletedColumn), s.table)}
	}
	stmts := []string{fmt.Sprintf("CREATE TEMP TABLE %s (LIKE %s)", quoteIdent(s.stage), s.table)}
	if s.keyed() {
		stmts = append(stmts, fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s BIGINT", quoteIdent(s.stage), quoteIdent(seqColumn)))
	}
	return stmts
}

// copyTarget is the table COPY loads: the target itself for inserts (one
// COPY inside the load's transaction is already atomic and needs no
// matching), else the staging table.
func (s *loadSQL) copyTarget() string {
	if s.keyed() {
		return quoteIdent(s.stage)
	}
	return s.table.String()
}

func (s *loadSQL) copyColumns() string {
	cols := s.cols
	if s.keyed() {
		cols = append(append([]string(nil), s.cols...), seqColumn)
	}
	if s.deletes {
		cols = append(cols, deletedColumn)
	}
	return identList(cols)
}

// copyFromStdin is PostgreSQL mode's COPY.
func (s *loadSQL) copyFromStdin() string {
	return fmt.Sprintf("COPY %s (%s) FROM STDIN WITH (FORMAT csv, NULL %s)", s.copyTarget(), s.copyColumns(), quoteLiteral(nullSentinel))
}

// copyFromS3 is Redshift mode's COPY of the manifest's gzip CSV parts.
// maxErrors is MAXERROR: how many rows COPY may skip, which the loader
// then reads back as refused rows.
func (s *loadSQL) copyFromS3(manifestURL, iamRole, region string, maxErrors int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "COPY %s (%s)\nFROM %s\n", s.copyTarget(), s.copyColumns(), quoteLiteral(manifestURL))
	if iamRole == "" || iamRole == "default" {
		b.WriteString("IAM_ROLE default\n")
	} else {
		fmt.Fprintf(&b, "IAM_ROLE %s\n", quoteLiteral(iamRole))
	}
	if region != "" {
		fmt.Fprintf(&b, "REGION %s\n", quoteLiteral(region))
	}
	fmt.Fprintf(&b, "MANIFEST\nFORMAT AS CSV\nGZIP\nNULL AS %s\nTIMEFORMAT 'auto'\nDATEFORMAT 'auto'\nMAXERROR %d\nCOMPUPDATE OFF\nSTATUPDATE OFF",
		quoteLiteral(nullSentinel), maxErrors)
	return b.String()
}

// lastCopyCount is how Redshift says how many rows the last COPY loaded.
func (s *loadSQL) lastCopyCount() string { return "SELECT pg_last_copy_count()" }

// failedLoadErrors is how many refused lines a failed load's error lists.
const failedLoadErrors = 20

// loadErrorsSQL reads Redshift's load errors for the files under prefix:
// file, line, column, type, length, code, message. The prefix is the
// load's own, so no query id is needed (SYS views number queries apart
// from pg_last_copy_id()'s STL ids), and the view works on provisioned
// clusters, on their concurrency-scaling clusters (which stl_load_errors
// misses) and on Serverless. DISTINCT folds the identical lines a retried
// attempt of the same load logged again. limit 0 reads every line: a
// successful COPY logs at most MAXERROR.
func loadErrorsSQL(prefix string, limit int) string {
	q := "SELECT DISTINCT TRIM(file_name), line_number, TRIM(column_name), TRIM(column_type), TRIM(column_length), " +
		"error_code, TRIM(error_message)\nFROM sys_load_error_detail\nWHERE file_name LIKE " +
		quoteLiteral(likeEscape(prefix)+"%") + " ESCAPE '^'\nORDER BY 1, 2"
	if limit > 0 {
		q += "\nLIMIT " + strconv.Itoa(limit)
	}
	return q
}

// stlLoadErrorsSQL is the fallback for a failed load on a provisioned
// cluster, in the columns of loadErrorsSQL.
func stlLoadErrorsSQL() string {
	return "SELECT TRIM(filename), line_number, TRIM(colname), TRIM(type), TRIM(col_length), err_code, TRIM(err_reason)\n" +
		"FROM stl_load_errors\nWHERE query = pg_last_copy_id()\nORDER BY 1, 2\nLIMIT " + strconv.Itoa(failedLoadErrors)
}

func likeEscape(s string) string {
	r := strings.NewReplacer("^", "^^", "%", "^%", "_", "^_")
	return r.Replace(s)
}

// dedupe keeps, for each key, the staged row that arrived last (highest
// sequence number): the stated rule for duplicate keys within one load.
// With deletes the last row may be a delete, and it wins like any other:
// a record created and then deleted in one load ends deleted.
func (s *loadSQL) dedupe() string {
	kept := s.cols
	if s.deletes {
		kept = append(append([]string(nil), s.cols...), deletedColumn)
	}
	cols := identList(kept)
	return fmt.Sprintf("CREATE TEMP TABLE %s AS\nSELECT %s\nFROM (\n  SELECT %s, ROW_NUMBER() OVER (PARTITION BY %s ORDER BY %s DESC) AS %s\n  FROM %s\n) AS s\nWHERE %s = 1",
		quoteIdent(s.dedup), cols, cols, identList(s.keys), quoteIdent(seqColumn), quoteIdent(rnColumn),
		quoteIdent(s.stage), quoteIdent(rnColumn))
}

func (s *loadSQL) keyMatch() string {
	parts := make([]string, len(s.keys))
	for i, k := range s.keys {
		parts[i] = fmt.Sprintf("%s.%s = %s.%s", s.table, quoteIdent(k), quoteIdent(s.dedup), quoteIdent(k))
	}
	return strings.Join(parts, " AND ")
}

// merge applies the de-duplicated rows to the target. Upsert is DELETE +
// INSERT on both databases: Redshift has no ON CONFLICT (constraints are
// informational), and the two statements run in the load's transaction.
//
// With deletes, upsert's DELETE already removes every key the load
// touches, so a key whose last event is a delete simply is not inserted
// again; update deletes those keys first and updates the others. Either
// way a delete of a key the target lacks matches nothing.
func (s *loadSQL) merge() []string {
	deleteMatched := fmt.Sprintf("DELETE FROM %s\nUSING %s\nWHERE %s", s.table, quoteIdent(s.dedup), s.keyMatch())
	marker := quoteIdent(s.dedup) + "." + quoteIdent(deletedColumn)
	switch s.mode {
	case sdk.WriteUpsert:
		insert := fmt.Sprintf("INSERT INTO %s (%s)\nSELECT %s FROM %s", s.table, identList(s.cols), identList(s.cols), quoteIdent(s.dedup))
		if s.deletes {
			insert += "\nWHERE NOT " + marker
		}
		return []string{deleteMatched, insert}
	case sdk.WriteUpdate:
		var stmts []string
		live := ""
		if s.deletes {
			stmts = append(stmts, deleteMatched+"\nAND "+marker)
			live = "\nAND NOT " + marker
		}
		var sets []string
		for _, c := range s.cols {
			if !contains(s.keys, c) {
				sets = append(sets, fmt.Sprintf("%s = %s.%s", quoteIdent(c), quoteIdent(s.dedup), quoteIdent(c)))
			}
		}
		if len(sets) > 0 {
			stmts = append(stmts, fmt.Sprintf("UPDATE %s\nSET %s\nFROM %s\nWHERE %s%s", s.table, strings.Join(sets, ",\n    "), quoteIdent(s.dedup), s.keyMatch(), live))
		}
		return stmts
	case sdk.WriteDelete:
		return []string{deleteMatched}
	}
	return nil
}

func (s *loadSQL) dropStage() []string {
	if !s.keyed() {
		return nil
	}
	return []string{"DROP TABLE " + quoteIdent(s.dedup), "DROP TABLE " + quoteIdent(s.stage)}
}

// inspectSQL lists a table's columns in order, every value as text.
func inspectSQL(t tableName, schema string) string {
	return "SELECT CAST(column_name AS VARCHAR), CAST(data_type AS VARCHAR), " +
		"COALESCE(CAST(character_maximum_length AS VARCHAR), ''), COALESCE(CAST(numeric_precision AS VARCHAR), ''), " +
		"COALESCE(CAST(numeric_scale AS VARCHAR), '')\nFROM information_schema.columns\nWHERE table_schema = " +
		quoteLiteral(schema) + " AND table_name = " + quoteLiteral(t.Name) + "\nORDER BY ordinal_position"
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
