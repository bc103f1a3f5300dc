package pluginhost

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPoolKeySharesOnlyTheSameExecutableLockAndConnection(t *testing.T) {
	exe := executable(t, t.TempDir(), "sluice-plugin-file", "v1")
	info, err := os.Stat(exe)
	if err != nil {
		t.Fatal(err)
	}
	lock := &LockFile{Plugins: map[string]LockedPlugin{"file": {Name: "file", SHA256: strings.Repeat("a", 64)}}}
	h := &Host{Lock: lock}
	config := map[string]any{"user": "ada", "password": "hunter2", "port": int64(5439)}
	key := h.poolKey("file", exe, info, config)
	if key == "" {
		t.Fatal("an ordinary configuration gives no pool key")
	}
	if strings.Contains(key, "hunter2") || strings.Contains(key, "ada") {
		t.Fatalf("the pool key shows configuration values: %q", key)
	}
	same := map[string]any{"port": int64(5439), "password": "hunter2", "user": "ada"}
	if h.poolKey("file", exe, info, same) != key {
		t.Fatal("the same configuration built in another order gives another key")
	}
	for name, other := range map[string]string{
		"another password":  h.poolKey("file", exe, info, map[string]any{"user": "ada", "password": "x", "port": int64(5439)}),
		"another connector": h.poolKey("s3", exe, info, config),
		"an unlocked host":  (&Host{AllowUnlocked: true}).poolKey("file", exe, info, config),
		"another lock entry": (&Host{Lock: &LockFile{Plugins: map[string]LockedPlugin{
			"file": {Name: "file", SHA256: strings.Repeat("b", 64)}}}}).poolKey("file", exe, info, config),
	} {
		if other == key {
			t.Errorf("%s shares the key", name)
		}
	}
	rebuilt := executable(t, filepath.Dir(exe), "sluice-plugin-file", "v2, longer")
	info2, _ := os.Stat(rebuilt)
	if h.poolKey("file", exe, info2, config) == key {
		t.Error("a rebuilt executable shares the key")
	}
	if (&Host{}).poolKey("file", exe, info, config) != "" {
		t.Error("a host without a lock file (which cannot start locked plugins) gives a key")
	}
}
