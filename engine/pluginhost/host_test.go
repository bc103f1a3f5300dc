package pluginhost

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func executable(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLockFileRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), DefaultLockFile)
	lf := &LockFile{Path: path, Plugins: map[string]LockedPlugin{
		"s3":   {Name: "s3", Version: "0.2.0", SHA256: strings.Repeat("b", 64)},
		"file": {Name: "file", Version: "0.1.0", SHA256: strings.Repeat("a", 64)},
	}}
	if err := lf.Write(); err != nil {
		t.Fatal(err)
	}
	src, _ := os.ReadFile(path)
	if !strings.Contains(string(src), "sluice plugins lock") || strings.Index(string(src), `"file"`) > strings.Index(string(src), `"s3"`) {
		t.Fatalf("lock file should carry a comment and sorted entries:\n%s", src)
	}
	back, err := ReadLockFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if back.Plugins["s3"] != lf.Plugins["s3"] || back.Plugins["file"] != lf.Plugins["file"] {
		t.Fatalf("read back %+v", back.Plugins)
	}
}

func TestMissingLockFileIsEmptyAndBrokenOneIsAnError(t *testing.T) {
	lf, err := ReadLockFile(filepath.Join(t.TempDir(), "none.hcl"))
	if err != nil || len(lf.Plugins) != 0 {
		t.Fatalf("missing lock file: %v %v", lf, err)
	}
	bad := filepath.Join(t.TempDir(), "bad.hcl")
	os.WriteFile(bad, []byte("plugin \"file\" {\n  version = \n}\n"), 0o644)
	if _, err := ReadLockFile(bad); err == nil || !strings.Contains(err.Error(), "bad.hcl") {
		t.Fatalf("broken lock file: %v", err)
	}
}

func TestVerifySaysWhatToDo(t *testing.T) {
	dir := t.TempDir()
	exe := executable(t, dir, "sluice-plugin-file", "v1")
	sum, _ := FileSHA256(exe)
	lf := &LockFile{Path: "sluice.lock.hcl", Plugins: map[string]LockedPlugin{"file": {Name: "file", SHA256: sum}}}
	if err := lf.verify("file", exe); err != nil {
		t.Fatalf("matching checksum refused: %v", err)
	}
	os.WriteFile(exe, []byte("v2"), 0o755)
	err := lf.verify("file", exe)
	if !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), sum) || !strings.Contains(err.Error(), "sluice plugins lock") {
		t.Fatalf("changed executable: %v", err)
	}
	if err := lf.verify("s3", exe); !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), "--dev-plugins") {
		t.Fatalf("unlocked plugin: %v", err)
	}
}

func TestFindLooksInOrderAndHonoursAnExplicitPath(t *testing.T) {
	first, second := t.TempDir(), t.TempDir()
	executable(t, second, "sluice-plugin-file", "second")
	want := executable(t, first, "sluice-plugin-file", "first")
	executable(t, second, "sluice-plugin-s3", "s3")
	os.WriteFile(filepath.Join(first, "sluice-plugin-notexec"), []byte("x"), 0o644)
	h := &Host{SearchPath: []string{first, second}}

	if got, err := h.Find("file", ""); err != nil || got != want {
		t.Fatalf("Find(file) = %q, %v; want the first directory's %q", got, err, want)
	}
	if got, err := h.Find("s3", ""); err != nil || got != filepath.Join(second, "sluice-plugin-s3") {
		t.Fatalf("Find(s3) = %q, %v", got, err)
	}
	explicit := executable(t, t.TempDir(), "my-build", "dev")
	if got, err := h.Find("file", explicit); err != nil || got != explicit {
		t.Fatalf("explicit path: %q %v", got, err)
	}
	_, err := h.Find("notexec", "")
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), first) || !strings.Contains(err.Error(), "SLUICE_PLUGIN_PATH") {
		t.Fatalf("non-executable file must not count as a plugin: %v", err)
	}
	if _, err := h.Find("file", filepath.Join(first, "sluice-plugin-notexec")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("explicit non-executable path: %v", err)
	}

	installed, err := h.Installed()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, in := range installed {
		names = append(names, in.Name+"@"+filepath.Base(filepath.Dir(in.Path)))
	}
	if len(installed) != 2 || installed[0].Path != want || installed[0].Locked {
		t.Fatalf("installed %v", names)
	}
}
