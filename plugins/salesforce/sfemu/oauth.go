package sfemu

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

type session struct {
	token, userID string
	lastUsed      time.Time
}

type refreshToken struct {
	token, userID string
	revoked       bool
}

// tokenResponse is the success body, in Salesforce's key order.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Signature    string `json:"signature,omitempty"`
	Scope        string `json:"scope"`
	InstanceURL  string `json:"instance_url"`
	ID           string `json:"id"`
	TokenType    string `json:"token_type"`
	IssuedAt     string `json:"issued_at,omitempty"`
}

func oauthErr(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	out := make([]byte, n)
	for i, c := range b {
		out[i] = base62[int(c)%62]
	}
	return string(out)
}

func secretEqual(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		methodNotAllowed(w, r, "POST")
		return
	}
	if err := r.ParseForm(); err != nil {
		oauthErr(w, 400, "invalid_request", "invalid request")
		return
	}
	f := r.Form
	clientID, clientSecret := f.Get("client_id"), f.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok && clientID == "" {
		clientID, clientSecret = u, p
	}
	checkClient := func(needSecret bool) bool {
		if clientID != s.opts.ConsumerKey {
			oauthErr(w, 400, "invalid_client_id", "client identifier invalid")
			return false
		}
		if (needSecret || clientSecret != "") && !secretEqual(clientSecret, s.opts.ConsumerSecret) {
			oauthErr(w, 400, "invalid_client", "invalid client credentials")
			return false
		}
		return true
	}
	switch f.Get("grant_type") {
	case "password":
		if !checkClient(true) {
			return
		}
		u := s.login(f.Get("username"), f.Get("password"))
		if u == "" {
			oauthErr(w, 400, "invalid_grant", "authentication failure")
			return
		}
		if !s.userActive(u) {
			oauthErr(w, 400, "invalid_grant", "inactive user")
			return
		}
		s.issue(w, r, u, true, true)
	case "refresh_token":
		if !checkClient(false) {
			return
		}
		s.authMu.Lock()
		rt := s.refresh[f.Get("refresh_token")]
		s.authMu.Unlock()
		if rt == nil || rt.revoked {
			oauthErr(w, 400, "invalid_grant", "expired access/refresh token")
			return
		}
		if !s.userActive(rt.userID) {
			oauthErr(w, 400, "invalid_grant", "inactive user")
			return
		}
		s.issue(w, r, rt.userID, false, true)
	case "urn:ietf:params:oauth:grant-type:jwt-bearer":
		u, code, desc := s.verifyJWT(r, f.Get("assertion"))
		if code != "" {
			oauthErr(w, 400, code, desc)
			return
		}
		s.issue(w, r, u, false, false)
	case "client_credentials":
		if !checkClient(true) {
			return
		}
		s.issue(w, r, s.userID, false, true)
	default:
		oauthErr(w, 400, "unsupported_grant_type", "grant type not supported")
	}
}

// login checks a username and password (optionally followed by the security
// token) and returns the user's Id.
func (s *Server) login(username, password string) string {
	if !strings.EqualFold(username, s.opts.Username) {
		return ""
	}
	if !secretEqual(password, s.opts.Password) && !secretEqual(password, s.opts.Password+s.opts.SecurityToken) {
		return ""
	}
	return s.userID
}

func (s *Server) userActive(id string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t := s.tables["user"]
	r := t.get(id)
	if r == nil || r.deleted(t.obj) {
		return false
	}
	a, _ := r.vals[t.obj.field("IsActive").idx].(bool)
	return a
}

func (s *Server) identityURL(r *http.Request, userID string) string {
	return s.baseURL(r) + "/id/" + s.orgID + "/" + userID
}

// issue creates a session and writes the token response.
func (s *Server) issue(w http.ResponseWriter, r *http.Request, userID string, withRefresh, signed bool) {
	tok := s.orgID[:15] + "!" + randomToken(96)
	now := s.now()
	s.authMu.Lock()
	s.sessions[tok] = &session{token: tok, userID: userID, lastUsed: now}
	resp := tokenResponse{
		AccessToken: tok, Scope: "api refresh_token", InstanceURL: s.baseURL(r),
		ID: s.identityURL(r, userID), TokenType: "Bearer",
	}
	if withRefresh {
		rt := "5Aep861" + randomToken(80)
		s.refresh[rt] = &refreshToken{token: rt, userID: userID}
		resp.RefreshToken = rt
	}
	s.authMu.Unlock()
	if signed {
		resp.IssuedAt = strconv.FormatInt(now.UnixMilli(), 10)
		mac := hmac.New(sha256.New, []byte(s.opts.ConsumerSecret))
		mac.Write([]byte(resp.ID + resp.IssuedAt))
		resp.Signature = base64.StdEncoding.EncodeToString(mac.Sum(nil))
	} else {
		resp.IssuedAt = strconv.FormatInt(now.UnixMilli(), 10)
	}
	w.Header().Set("Cache-Control", "no-cache,must-revalidate,max-age=0,no-store,private")
	writeJSON(w, 200, resp)
}

// IssueRefreshToken mints a refresh token for the development user, as a
// user authorizing the connected app in a browser would get (tests, `sluice
// dev` output).
func (s *Server) IssueRefreshToken() string {
	rt := "5Aep861" + randomToken(80)
	s.authMu.Lock()
	s.refresh[rt] = &refreshToken{token: rt, userID: s.userID}
	s.authMu.Unlock()
	return rt
}

// RevokeRefreshToken revokes one refresh token.
func (s *Server) RevokeRefreshToken(token string) bool {
	s.authMu.Lock()
	defer s.authMu.Unlock()
	if rt := s.refresh[token]; rt != nil {
		rt.revoked = true
		return true
	}
	return false
}

// verifyJWT checks a JWT bearer assertion and returns the user's Id, or an
// OAuth error code and description.
func (s *Server) verifyJWT(r *http.Request, assertion string) (string, string, string) {
	const bad = "invalid assertion"
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return "", "invalid_grant", bad
	}
	hb, err1 := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[0], "="))
	cb, err2 := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	sig, err3 := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[2], "="))
	if err1 != nil || err2 != nil || err3 != nil {
		return "", "invalid_grant", bad
	}
	var hdr struct {
		Alg string `json:"alg"`
	}
	var claims map[string]any
	if json.Unmarshal(hb, &hdr) != nil || json.Unmarshal(cb, &claims) != nil || hdr.Alg != "RS256" {
		return "", "invalid_grant", bad
	}
	if iss, _ := claims["iss"].(string); iss != s.opts.ConsumerKey {
		return "", "invalid_client_id", "client identifier invalid"
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(s.certKey, crypto.SHA256, sum[:], sig) != nil {
		return "", "invalid_grant", bad
	}
	var auds []string
	switch a := claims["aud"].(type) {
	case string:
		auds = []string{a}
	case []any:
		for _, x := range a {
			if xs, ok := x.(string); ok {
				auds = append(auds, xs)
			}
		}
	}
	okAud := false
	for _, a := range auds {
		a = strings.TrimSuffix(a, "/")
		if a == "https://login.salesforce.com" || a == "https://test.salesforce.com" || a == s.baseURL(r) ||
			a == s.baseURL(r)+"/services/oauth2/token" {
			okAud = true
		}
	}
	if !okAud {
		return "", "invalid_grant", "audience is invalid"
	}
	var exp float64
	switch e := claims["exp"].(type) {
	case float64:
		exp = e
	case string:
		v, err := strconv.ParseFloat(e, 64)
		if err != nil {
			return "", "invalid_grant", bad
		}
		exp = v
	default:
		return "", "invalid_grant", bad
	}
	if float64(s.now().Add(-3*time.Minute).Unix()) > exp {
		return "", "invalid_grant", "expired authorization code"
	}
	sub, _ := claims["sub"].(string)
	if sub == "" {
		sub, _ = claims["prn"].(string)
	}
	s.mu.RLock()
	u := s.userByName(sub)
	s.mu.RUnlock()
	if u == nil {
		return "", "invalid_grant", "user hasn't approved this consumer"
	}
	id := u.id(s.objects["user"])
	if !s.userActive(id) {
		return "", "invalid_grant", "inactive user"
	}
	return id, "", ""
}

// authenticate returns the live session of a request's bearer token.
func (s *Server) authenticate(r *http.Request) *session {
	h := r.Header.Get("Authorization")
	var tok string
	switch {
	case strings.HasPrefix(h, "Bearer "):
		tok = strings.TrimSpace(h[len("Bearer "):])
	case strings.HasPrefix(h, "OAuth "):
		tok = strings.TrimSpace(h[len("OAuth "):])
	default:
		return nil
	}
	return s.sessionFor(tok)
}

// sessionFor returns the live session of an access token and marks it used,
// for REST and Pub/Sub alike.
func (s *Server) sessionFor(tok string) *session {
	now := s.now()
	s.authMu.Lock()
	defer s.authMu.Unlock()
	sess := s.sessions[tok]
	if sess == nil {
		return nil
	}
	if now.Sub(sess.lastUsed) > s.opts.SessionTTL {
		delete(s.sessions, tok)
		return nil
	}
	sess.lastUsed = now
	return sess
}

func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	tok := r.Form.Get("token")
	s.authMu.Lock()
	found := false
	if rt := s.refresh[tok]; rt != nil {
		rt.revoked = true
		found = true
		for k, sess := range s.sessions {
			if sess.userID == rt.userID {
				delete(s.sessions, k)
			}
		}
	}
	if s.sessions[tok] != nil {
		delete(s.sessions, tok)
		found = true
	}
	s.authMu.Unlock()
	if !found {
		oauthErr(w, 400, "unsupported_token_type", "this token type is not supported")
		return
	}
	w.WriteHeader(200)
}

func (s *Server) handleUserinfo(w http.ResponseWriter, r *http.Request) {
	sess := s.authenticate(r)
	if sess == nil {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte("Bad_OAuth_Token"))
		return
	}
	s.mu.RLock()
	t := s.tables["user"]
	u := t.get(sess.userID)
	get := func(n string) any { return u.vals[t.obj.field(n).idx] }
	first, last, email, uname, name := get("FirstName"), get("LastName"), get("Email"), get("Username"), get("Name")
	s.mu.RUnlock()
	base := s.baseURL(r)
	id := s.identityURL(r, sess.userID)
	info := map[string]any{
		"sub": id, "user_id": sess.userID, "organization_id": s.orgID, "preferred_username": uname,
		"nickname": "dev", "name": name, "email": email, "email_verified": true, "given_name": first,
		"family_name": last, "zoneinfo": "America/Los_Angeles", "locale": "en_US", "language": "en_US",
		"user_type": "STANDARD", "active": true, "is_app_installed": true, "utcOffset": -28800000,
		"updated_at": s.now().UTC().Format("2006-01-02T15:04:05Z"),
		"photos":     map[string]string{"picture": base + "/profilephoto/005/F", "thumbnail": base + "/profilephoto/005/T"},
		"urls": map[string]string{
			"enterprise": base + "/services/Soap/c/{version}/" + s.orgID[:15], "partner": base + "/services/Soap/u/{version}/" + s.orgID[:15],
			"rest": base + "/services/data/v{version}/", "sobjects": base + "/services/data/v{version}/sobjects/",
			"search": base + "/services/data/v{version}/search/", "query": base + "/services/data/v{version}/query/",
			"recent": base + "/services/data/v{version}/recent/", "profile": base + "/" + sess.userID,
			"limits": base + "/services/data/v{version}/limits/", "custom_domain": base,
		},
	}
	if strings.HasPrefix(r.URL.Path, "/id/") {
		info["id"] = id
		info["username"] = uname
		info["display_name"] = name
		info["first_name"], info["last_name"] = first, last
		info["asserted_user"] = true
	}
	writeJSON(w, 200, info)
}
