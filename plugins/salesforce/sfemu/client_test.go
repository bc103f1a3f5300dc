package sfemu

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/simpleforce/simpleforce"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"golang.org/x/oauth2/jwt"
)

// TestThirdPartyClients drives the emulator with clients written by other
// people: golang.org/x/oauth2 (password, refresh token, client credentials
// and JWT bearer grants, Bearer auth) and github.com/simpleforce/simpleforce
// (REST query and insert; it logs in over SOAP, so it is handed the OAuth
// session as a real integration would with SetSidLoc).
func TestThirdPartyClients(t *testing.T) {
	s, err := New(Options{Records: 30})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnvFromServer(t, s)
	ctx := context.Background()
	cfg := oauth2.Config{ClientID: DefaultConsumerKey, ClientSecret: DefaultConsumerSecret,
		Endpoint: oauth2.Endpoint{TokenURL: e.ts.URL + "/services/oauth2/token", AuthStyle: oauth2.AuthStyleInParams}}
	tok, err := cfg.PasswordCredentialsToken(ctx, DefaultUsername, DefaultPassword)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Extra("instance_url") != e.ts.URL || tok.RefreshToken == "" || !tok.Expiry.IsZero() {
		t.Fatalf("token %+v", tok)
	}

	// refresh_token grant through a TokenSource
	rts := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken})
	rtok, err := rts.Token()
	if err != nil || rtok.AccessToken == "" || rtok.AccessToken == tok.AccessToken {
		t.Fatalf("refresh: %v %+v", err, rtok)
	}
	hc := oauth2.NewClient(ctx, oauth2.StaticTokenSource(rtok))
	res, err := hc.Get(e.ts.URL + "/services/data/v60.0/limits")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("%v %v", err, res)
	}
	res.Body.Close()

	// client credentials
	cc := clientcredentials.Config{ClientID: DefaultConsumerKey, ClientSecret: DefaultConsumerSecret, TokenURL: e.ts.URL + "/services/oauth2/token"}
	if _, err := cc.Token(ctx); err != nil {
		t.Fatal(err)
	}

	// JWT bearer with x/oauth2/jwt (Audience and Expires set, as Salesforce needs)
	jc := jwt.Config{Email: DefaultConsumerKey, Subject: DefaultUsername, PrivateKey: []byte(DevPrivateKeyPEM),
		TokenURL: e.ts.URL + "/services/oauth2/token", Audience: "https://login.salesforce.com", Expires: 3 * time.Minute}
	jtok, err := jc.TokenSource(ctx).Token()
	if err != nil {
		t.Fatal(err)
	}
	if jtok.Extra("instance_url") != e.ts.URL {
		t.Fatalf("%+v", jtok)
	}
	// an error as x/oauth2 reports it
	bad := cfg
	bad.ClientSecret = "wrong"
	_, err = bad.PasswordCredentialsToken(ctx, DefaultUsername, DefaultPassword)
	var re *oauth2.RetrieveError
	if err == nil || !asRetrieve(err, &re) || re.ErrorCode != "invalid_client" || re.ErrorDescription != "invalid client credentials" {
		t.Fatalf("%v", err)
	}

	// simpleforce: query (with paging via nextRecordsUrl) and insert
	sf := simpleforce.NewClient(e.ts.URL, DefaultConsumerKey, "60.0")
	sf.SetSidLoc(jtok.AccessToken, e.ts.URL)
	qr, err := sf.Query("SELECT Id, Name, Industry FROM Account ORDER BY Name")
	if err != nil {
		t.Fatal(err)
	}
	if qr.TotalSize != 30 || len(qr.Records) != 30 || !qr.Done || qr.Records[0].Type() != "Account" {
		t.Fatalf("%+v", qr)
	}
	created := sf.SObject("Contact").Set("LastName", "Thirdparty").Set("Email", "tp@example.com").Create()
	if created == nil || !ValidID(created.ID()) {
		t.Fatalf("create: %v", created)
	}
	got := sf.SObject("Contact").Get(created.ID())
	if got == nil || got.StringField("LastName") != "Thirdparty" {
		t.Fatalf("get: %v", got)
	}
	if sf.SObject("Contact").Set("Id", created.ID()).Set("Title", "CTO").Update() == nil {
		t.Fatal("update failed")
	}
	qr, err = sf.Query("SELECT Id, Title FROM Contact WHERE Email = 'tp@example.com'")
	if err != nil || qr.TotalSize != 1 || qr.Records[0].StringField("Title") != "CTO" {
		t.Fatalf("%v %+v", err, qr)
	}
	if err := sf.SObject("Contact").Set("Id", created.ID()).Delete(); err != nil {
		t.Fatal(err)
	}
	if n := e.s.Count("Contact"); n != 30 {
		t.Fatal(n)
	}
	_, err = sf.Query("SELECT Bogus FROM Account")
	if err == nil || !strings.Contains(err.Error(), "INVALID_FIELD") {
		t.Fatalf("%v", err)
	}
}

func asRetrieve(err error, re **oauth2.RetrieveError) bool {
	r, ok := err.(*oauth2.RetrieveError)
	if ok {
		*re = r
	}
	return ok
}

func newEnvFromServer(t *testing.T, s *Server) *env {
	t.Helper()
	e := &env{t: t, s: s}
	e.ts = newHTTPTest(s)
	t.Cleanup(e.ts.Close)
	s.BaseURL = e.ts.URL
	return e
}
