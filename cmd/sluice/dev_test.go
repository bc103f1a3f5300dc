package main_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/sluice-dev/sluice/plugins/salesforce/eventbusv1"
)

// startDevSalesforce runs `sluice dev salesforce` on a free port and returns
// the key: value lines it prints on start.
func startDevSalesforce(t *testing.T, args ...string) (map[string]string, *exec.Cmd) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "sluice"), append([]string{"dev", "salesforce", "--addr", "127.0.0.1:0"}, args...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	info := map[string]string{}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	deadline := time.After(60 * time.Second)
	for info["records"] == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("sluice dev salesforce exited early; got %v", info)
			}
			if k, v, ok := strings.Cut(strings.TrimSpace(l), ":"); ok && !strings.Contains(k, " ") {
				info[k] = strings.TrimSpace(v)
			}
		case <-deadline:
			t.Fatalf("no start-up output; got %v", info)
		}
	}
	go func() {
		for range lines {
		}
	}()
	return info, cmd
}

func TestDevSalesforce(t *testing.T) {
	data := t.TempDir()
	info, cmd := startDevSalesforce(t, "--records", "40", "--data", data)
	base := info["base_url"]
	if !strings.HasPrefix(base, "http://127.0.0.1:") || info["consumer_key"] == "" || info["password"] == "" {
		t.Fatalf("start-up output %v", info)
	}
	for _, f := range []string{info["jwt_private_key"], info["jwt_certificate"]} {
		if b, err := os.ReadFile(f); err != nil || !strings.Contains(string(b), "-----BEGIN") {
			t.Fatalf("key file %s: %v", f, err)
		}
	}
	res, err := http.PostForm(base+"/services/oauth2/token", url.Values{"grant_type": {"password"},
		"client_id": {info["consumer_key"]}, "client_secret": {info["consumer_secret"]},
		"username": {info["username"]}, "password": {info["password"]}})
	if err != nil {
		t.Fatal(err)
	}
	var tok struct{ AccessToken, InstanceURL string }
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	var raw map[string]string
	_ = json.Unmarshal(b, &raw)
	tok.AccessToken, tok.InstanceURL = raw["access_token"], raw["instance_url"]
	if res.StatusCode != 200 || tok.InstanceURL != base {
		t.Fatalf("login: %d %s", res.StatusCode, b)
	}
	call := func(method, path, body string) (int, []byte) {
		req, _ := http.NewRequest(method, tok.InstanceURL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, b
	}
	st, body := call("GET", "/services/data/v60.0/query?q="+url.QueryEscape("SELECT COUNT() FROM Account"), "")
	if st != 200 || string(body) != `{"totalSize":40,"done":true,"records":[]}` {
		t.Fatalf("query: %d %s", st, body)
	}
	if st, body := call("POST", "/services/data/v60.0/sobjects/Account", `{"Name":"Persisted Co"}`); st != 201 {
		t.Fatalf("create: %d %s", st, body)
	}
	checkDevPubSub(t, info, tok.AccessToken)
	_ = cmd.Process.Signal(syscall.SIGINT)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v", err)
	}
	if _, err := os.Stat(filepath.Join(data, "sobjects", "Account.jsonl")); err != nil {
		t.Fatal(err)
	}

	// a restart on the same directory loads instead of seeding, and the
	// refresh token printed before still works
	info2, _ := startDevSalesforce(t, "--records", "5", "--data", data)
	res, err = http.PostForm(info2["base_url"]+"/services/oauth2/token", url.Values{"grant_type": {"refresh_token"},
		"client_id": {info["consumer_key"]}, "refresh_token": {info["refresh_token"]}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(res.Body)
	res.Body.Close()
	raw = map[string]string{}
	_ = json.Unmarshal(b, &raw)
	if res.StatusCode != 200 {
		t.Fatalf("refresh after restart: %d %s", res.StatusCode, b)
	}
	tok.AccessToken, tok.InstanceURL = raw["access_token"], raw["instance_url"]
	st, body = call("GET", "/services/data/v60.0/query?q="+url.QueryEscape("SELECT Id FROM Account WHERE Name = 'Persisted Co'"), "")
	if st != 200 || !strings.Contains(string(body), `"totalSize":1`) {
		t.Fatalf("after restart: %d %s", st, body)
	}
	if !strings.Contains(info2["records"], "Account=41") {
		t.Fatalf("records line %q", info2["records"])
	}
}

// checkDevPubSub reads the change event of the create above from the
// printed Pub/Sub address.
func checkDevPubSub(t *testing.T, info map[string]string, token string) {
	t.Helper()
	if !strings.HasPrefix(info["pubsub_addr"], "127.0.0.1:") || info["org_id"] == "" {
		t.Fatalf("start-up output %v", info)
	}
	conn, err := grpc.NewClient(info["pubsub_addr"], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "accesstoken", token, "instanceurl", info["base_url"], "tenantid", info["org_id"])
	client := eventbusv1.NewPubSubClient(conn)
	topic, err := client.GetTopic(ctx, &eventbusv1.TopicRequest{TopicName: "/data/AccountChangeEvent"})
	if err != nil || topic.SchemaId == "" || topic.TenantGuid != info["org_id"] {
		t.Fatalf("GetTopic: %v %v", topic, err)
	}
	stream, err := client.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&eventbusv1.FetchRequest{TopicName: "/data/AccountChangeEvent", ReplayPreset: eventbusv1.ReplayPreset_EARLIEST, NumRequested: 1}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil || len(resp.Events) != 1 || resp.Events[0].Event.SchemaId != topic.SchemaId || !strings.Contains(string(resp.Events[0].Event.Payload), "Persisted Co") {
		t.Fatalf("Subscribe: %v %v", resp, err)
	}
}
