package fileconn

import (
	"context"
	"strings"
	"testing"

	"github.com/sluice-dev/sluice/sdk"
)

// TestDeletesRefused: files are only appended, so a request for
// change-event deletes is refused before anything is written.
func TestDeletesRefused(t *testing.T) {
	dir := t.TempDir()
	req := sdk.WriteRequest{Options: sdk.Values{"path": dir}, Schema: trickySchema, RunID: "r", Deletes: true}
	c := New()
	diags := c.CheckWrite(context.Background(), req)
	if len(diags) != 1 || !diags.HasErrors() || strings.Join(diags[0].Path, ".") != "deletes" ||
		!strings.Contains(diags[0].Summary, "cannot delete") {
		t.Fatalf("CheckWrite = %#v", diags)
	}
	if _, err := c.OpenWriter(context.Background(), req); err == nil || !strings.Contains(err.Error(), "deletes: the file sink cannot delete records") {
		t.Fatalf("OpenWriter = %v", err)
	}
	if files, _ := listFiles(dir); len(files) != 0 {
		t.Fatalf("a refused writer left %v", files)
	}
	req.Deletes = false
	if diags := c.CheckWrite(context.Background(), req); len(diags) != 0 {
		t.Fatalf("CheckWrite without deletes = %v", diags)
	}
}
