package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/gateway/api"
	"github.com/passerelle/passerelle/host/consent"
)

type unions struct{}

func (unions) UnionID(merchant, person string) string { return "un-" + merchant + "-" + person }

// TestAudience: GET /v1/consent/audience exports the token's merchant's
// audience only, under its own ids for the people, with the text each
// person agreed to; a purpose filters it; a malformed purpose is
// bad_request; a server without the ledger says so.
func TestAudience(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, 0)
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "c.db"), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	svc, err := consent.Open(db, consent.Config{Pseudonyms: unions{}})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range []consent.Grant{
		{Person: "p_ana", Business: "m1", Purpose: "updates", Prompt: consent.OptInPrompt("Shop One", "updates")},
		{Person: "p_bo", Business: "m1", Purpose: "offers", Prompt: consent.OptInPrompt("Shop One", "offers")},
		{Person: "p_cy", Business: "m2", Purpose: "updates", Prompt: consent.OptInPrompt("Shop Two", "updates")},
	} {
		if _, err := svc.OptIn(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	h, err := api.New(api.Config{Auth: tokens{}, Apps: e.router, Audience: svc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	withLedger := &env{srv: srv}
	type export struct {
		Merchant string           `json:"merchant"`
		Members  []consent.Member `json:"members"`
	}
	for _, tc := range []struct {
		name, path, token string
		e                 *env
		status            int
		code              string
		want              []string // member ids
	}{
		{"own audience", "/v1/consent/audience", "tok-m1", withLedger, 200, "", []string{"un-m1-p_ana", "un-m1-p_bo"}},
		{"by purpose", "/v1/consent/audience?purpose=offers", "tok-m1", withLedger, 200, "", []string{"un-m1-p_bo"}},
		{"the other merchant", "/v1/consent/audience", "tok-m2", withLedger, 200, "", []string{"un-m2-p_cy"}},
		{"bad purpose", "/v1/consent/audience?purpose=Big%20News", "tok-m1", withLedger, 400, "bad_request", nil},
		{"a person", "/v1/consent/audience", "tok-person", withLedger, 403, "merchant_only", nil},
		{"no token", "/v1/consent/audience", "", withLedger, 401, "unauthorized", nil},
		{"no ledger", "/v1/consent/audience", "tok-m1", e, 503, "unavailable", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, data := tc.e.do(t, http.MethodGet, tc.path, tc.token, nil)
			if resp.StatusCode != tc.status || code(data) != tc.code {
				t.Fatalf("%d %s, want %d %q", resp.StatusCode, data, tc.status, tc.code)
			}
			if tc.status != 200 {
				return
			}
			var ex export
			if err := json.Unmarshal(data, &ex); err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, m := range ex.Members {
				ids = append(ids, m.ID)
				if len(m.OptIns) != 1 || m.OptIns[0].Prompt == "" || m.OptIns[0].Record == 0 {
					t.Errorf("member %s has no evidence: %+v", m.ID, m)
				}
			}
			if len(ids) != len(tc.want) || (len(ids) > 0 && (ids[0] != tc.want[0] || ids[len(ids)-1] != tc.want[len(tc.want)-1])) {
				t.Fatalf("members %v, want %v", ids, tc.want)
			}
		})
	}
}
