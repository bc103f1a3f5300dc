package sfemu

import (
	"bytes"
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func devKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	b, _ := pem.Decode([]byte(DevPrivateKeyPEM))
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(*rsa.PrivateKey)
}

func signJWT(t *testing.T, key *rsa.PrivateKey, claims map[string]any) string {
	t.Helper()
	h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256"}`))
	cb, _ := json.Marshal(claims)
	c := base64.RawURLEncoding.EncodeToString(cb)
	sum := sha256.Sum256([]byte(h + "." + c))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return h + "." + c + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func TestOAuthGrants(t *testing.T) {
	e := newEnv(t, Options{})
	key := devKey(t)
	otherKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	_, pw := e.token(passwordForm())
	refresh := pw["refresh_token"].(string)
	revoked := e.s.IssueRefreshToken()
	e.s.RevokeRefreshToken(revoked)
	jwtClaims := func(mod func(map[string]any)) map[string]any {
		c := map[string]any{"iss": DefaultConsumerKey, "sub": DefaultUsername, "aud": "https://login.salesforce.com", "exp": t0.Add(3 * time.Minute).Unix()}
		if mod != nil {
			mod(c)
		}
		return c
	}
	jwtForm := func(k *rsa.PrivateKey, mod func(map[string]any)) url.Values {
		return url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {signJWT(t, k, jwtClaims(mod))}}
	}
	with := func(f url.Values, k, v string) url.Values {
		g := url.Values{}
		for a, b := range f {
			g[a] = b
		}
		g.Set(k, v)
		return g
	}
	refreshForm := url.Values{"grant_type": {"refresh_token"}, "client_id": {DefaultConsumerKey}, "client_secret": {DefaultConsumerSecret}, "refresh_token": {refresh}}
	ccForm := url.Values{"grant_type": {"client_credentials"}, "client_id": {DefaultConsumerKey}, "client_secret": {DefaultConsumerSecret}}
	cases := []struct {
		name        string
		form        url.Values
		wantErr     string // exact error body; "" = success
		wantRefresh bool
	}{
		{"password", passwordForm(), "", true},
		{"password with security token", with(passwordForm(), "password", DefaultPassword+DefaultSecurityToken), "", true},
		{"password wrong secret", with(passwordForm(), "client_secret", "nope"), `{"error":"invalid_client","error_description":"invalid client credentials"}`, false},
		{"password wrong client", with(passwordForm(), "client_id", "nope"), `{"error":"invalid_client_id","error_description":"client identifier invalid"}`, false},
		{"password wrong password", with(passwordForm(), "password", "nope"), `{"error":"invalid_grant","error_description":"authentication failure"}`, false},
		{"password unknown user", with(passwordForm(), "username", "x@y.z"), `{"error":"invalid_grant","error_description":"authentication failure"}`, false},
		{"refresh", refreshForm, "", false},
		{"refresh without secret", with(refreshForm, "client_secret", ""), "", false},
		{"refresh revoked", with(refreshForm, "refresh_token", revoked), `{"error":"invalid_grant","error_description":"expired access/refresh token"}`, false},
		{"refresh unknown", with(refreshForm, "refresh_token", "5Aep861bogus"), `{"error":"invalid_grant","error_description":"expired access/refresh token"}`, false},
		{"jwt", jwtForm(key, nil), "", false},
		{"jwt test audience", jwtForm(key, func(c map[string]any) { c["aud"] = "https://test.salesforce.com" }), "", false},
		{"jwt my domain audience", jwtForm(key, func(c map[string]any) { c["aud"] = e.ts.URL }), "", false},
		{"jwt exp as string", jwtForm(key, func(c map[string]any) { c["exp"] = "1900000000" }), "", false},
		{"jwt expired", jwtForm(key, func(c map[string]any) { c["exp"] = t0.Add(-4 * time.Minute).Unix() }), `{"error":"invalid_grant","error_description":"expired authorization code"}`, false},
		{"jwt within skew", jwtForm(key, func(c map[string]any) { c["exp"] = t0.Add(-2 * time.Minute).Unix() }), "", false},
		{"jwt wrong audience", jwtForm(key, func(c map[string]any) { c["aud"] = "https://example.com" }), `{"error":"invalid_grant","error_description":"audience is invalid"}`, false},
		{"jwt wrong key", jwtForm(otherKey, nil), `{"error":"invalid_grant","error_description":"invalid assertion"}`, false},
		{"jwt wrong issuer", jwtForm(key, func(c map[string]any) { c["iss"] = "other" }), `{"error":"invalid_client_id","error_description":"client identifier invalid"}`, false},
		{"jwt unknown user", jwtForm(key, func(c map[string]any) { c["sub"] = "who@example.com" }), `{"error":"invalid_grant","error_description":"user hasn't approved this consumer"}`, false},
		{"jwt garbage", url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {"a.b"}}, `{"error":"invalid_grant","error_description":"invalid assertion"}`, false},
		{"client credentials", ccForm, "", false},
		{"client credentials wrong secret", with(ccForm, "client_secret", "x"), `{"error":"invalid_client","error_description":"invalid client credentials"}`, false},
		{"unsupported grant", url.Values{"grant_type": {"authorization_code"}}, `{"error":"unsupported_grant_type","error_description":"grant type not supported"}`, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := http.PostForm(e.ts.URL+"/services/oauth2/token", c.form)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var buf bytes.Buffer
			_, _ = buf.ReadFrom(res.Body)
			body := buf.String()
			if c.wantErr != "" {
				if res.StatusCode != 400 || body != c.wantErr {
					t.Fatalf("got %d %s, want 400 %s", res.StatusCode, body, c.wantErr)
				}
				return
			}
			if res.StatusCode != 200 {
				t.Fatalf("got %d %s", res.StatusCode, body)
			}
			var m map[string]any
			_ = json.Unmarshal([]byte(body), &m)
			if m["instance_url"] != e.ts.URL || m["token_type"] != "Bearer" || !strings.HasPrefix(m["access_token"].(string), e.s.OrgID()[:15]+"!") {
				t.Fatalf("body %s", body)
			}
			if m["id"] != e.ts.URL+"/id/"+e.s.OrgID()+"/"+e.s.UserID() {
				t.Fatalf("id %v", m["id"])
			}
			if _, ok := m["expires_in"]; ok {
				t.Fatal("expires_in must not be sent")
			}
			if _, ok := m["refresh_token"]; ok != c.wantRefresh {
				t.Fatalf("refresh_token present=%v: %s", ok, body)
			}
			if sig, ok := m["signature"].(string); ok {
				mac := hmac.New(sha256.New, []byte(DefaultConsumerSecret))
				mac.Write([]byte(m["id"].(string) + m["issued_at"].(string)))
				if sig != base64.StdEncoding.EncodeToString(mac.Sum(nil)) {
					t.Fatal("bad signature")
				}
			}
			if m["issued_at"] != "1773144000000" {
				t.Fatalf("issued_at %v", m["issued_at"])
			}
			// the token works
			e2 := *e
			e2.tok = m["access_token"].(string)
			if r := e2.do("GET", v+"/limits", ""); r.status != 200 {
				t.Fatalf("limits with new token: %d", r.status)
			}
		})
	}
	t.Run("basic auth client credentials", func(t *testing.T) {
		req, _ := http.NewRequest("POST", e.ts.URL+"/services/oauth2/token", strings.NewReader("grant_type=client_credentials"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(DefaultConsumerKey, DefaultConsumerSecret)
		res, err := http.DefaultClient.Do(req)
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("%v %v", err, res.StatusCode)
		}
		res.Body.Close()
	})
}

func TestSessionExpiryAndUserinfo(t *testing.T) {
	e := newEnv(t, Options{SessionTTL: time.Hour})
	r := e.do("GET", "/services/oauth2/userinfo", "")
	var ui map[string]any
	r.json(t, &ui)
	if r.status != 200 || ui["user_id"] != e.s.UserID() || ui["organization_id"] != e.s.OrgID() || ui["preferred_username"] != DefaultUsername {
		t.Fatalf("userinfo %d %s", r.status, r.body)
	}
	e.clk.t = e.clk.t.Add(59 * time.Minute) // use slides the window
	if r := e.do("GET", v+"/limits", ""); r.status != 200 {
		t.Fatal(r.status)
	}
	e.clk.t = e.clk.t.Add(59 * time.Minute)
	if r := e.do("GET", v+"/limits", ""); r.status != 200 {
		t.Fatal(r.status)
	}
	e.clk.t = e.clk.t.Add(61 * time.Minute)
	r = e.do("GET", v+"/limits", "")
	if r.status != 401 || string(r.body) != `[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]` {
		t.Fatalf("%d %s", r.status, r.body)
	}
	// OAuth prefix and no header
	e.tok = e.login()
	req, _ := http.NewRequest("GET", e.ts.URL+v+"/limits", nil)
	req.Header.Set("Authorization", "OAuth "+e.tok)
	res, _ := http.DefaultClient.Do(req)
	if res.StatusCode != 200 {
		t.Fatal(res.StatusCode)
	}
	res.Body.Close()
	e.tok = ""
	if r := e.do("GET", v+"/limits", ""); r.status != 401 {
		t.Fatal(r.status)
	}
	if r := e.do("GET", "/services/oauth2/userinfo", ""); r.status != 403 || string(r.body) != "Bad_OAuth_Token" {
		t.Fatalf("%d %s", r.status, r.body)
	}
}
