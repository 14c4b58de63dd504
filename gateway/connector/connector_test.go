package connector_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/gateway/connector"
)

func TestUnixTime(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{`1764892800`, 1764892800},
		{`"1764892800"`, 1764892800},
		{`1764892800000`, 1764892800000},
		{`1.7e12`, 1700000000000},
		{`1e400`, 0},
		{`"soon"`, 0},
		{`null`, 0},
		{`{}`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var got connector.UnixTime
			if err := json.Unmarshal([]byte(tt.in), &got); err != nil || int64(got) != tt.want {
				t.Fatalf("got %d, %v; want %d", got, err, tt.want)
			}
		})
	}
}

// Meta's error shape is read whether error_data is an object (WhatsApp)
// or a string (older Messenger answers), with the subcode.
func TestSenderReadsMetaErrors(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		class   connector.Class
		code    int
		subcode int
		details string
	}{
		{"object error_data", 400, `{"error":{"message":"(#131047) Re-engagement message","code":131047,"error_data":{"details":"more than 24 hours"},"fbtrace_id":"A1"}}`, connector.ClassWindowClosed, 131047, 0, "more than 24 hours"},
		{"string error_data and subcode", 400, `{"error":{"message":"(#100) Invalid parameter","code":100,"error_subcode":2018001,"error_data":"No matching user found."}}`, connector.ClassUndeliverable, 100, 2018001, "No matching user found."},
		{"no error body, 503", 503, `<html>`, connector.ClassTransient, 0, 0, ""},
		{"no error body, 400", 400, ``, connector.ClassInvalid, 0, 0, ""},
	}
	classify := func(code, sub int) connector.Class {
		switch {
		case sub == 2018001:
			return connector.ClassUndeliverable
		case code == 131047:
			return connector.ClassWindowClosed
		}
		return connector.ClassUnknown
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			s, err := connector.NewSender(connector.SenderConfig{Network: "test", BaseURL: srv.URL, Path: "me/messages", Token: "t", MaxAttempts: 1,
				Classify: classify, ID: func([]byte) (string, bool) { return "", false }})
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.Send(context.Background(), []byte(`{}`))
			e, ok := errors.AsType[*connector.Error](err)
			if !ok || e.Class != tt.class || e.Code != tt.code || e.Subcode != tt.subcode || e.Details != tt.details || e.HTTPStatus != tt.status {
				t.Fatalf("got %#v", err)
			}
		})
	}
}

type ev struct{ K, V string }

// Two networks' stores share one database file; each remembers its own
// keys.
func TestStoresShareAFile(t *testing.T) {
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "p.db"), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	key := func(e ev) string { return e.K }
	a, err := connector.OpenStore(db, "a", key, connector.StoreConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := connector.OpenStore(db, "b", key, connector.StoreConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	for _, step := range []struct {
		s   *connector.Store[ev]
		e   ev
		dup bool
	}{
		{a, ev{"k1", "x"}, false},
		{a, ev{"k1", "y"}, true},
		{b, ev{"k1", "z"}, false},
	} {
		dup, err := step.s.Record(ctx, step.e)
		if err != nil || dup != step.dup {
			t.Fatalf("Record(%v) = %v, %v; want dup %v", step.e, dup, err, step.dup)
		}
	}
	if _, err := a.Record(ctx, ev{"", "no key"}); err == nil {
		t.Fatal("an event without a key was recorded")
	}
	ea, _ := a.Inbox(ctx, 0, 10)
	eb, _ := b.Inbox(ctx, 0, 10)
	if len(ea) != 1 || ea[0].Event.V != "x" || len(eb) != 1 || eb[0].Event.V != "z" {
		t.Fatalf("inboxes %+v %+v", ea, eb)
	}
	if _, err := connector.OpenStore[ev](db, "", key, connector.StoreConfig{}); err == nil {
		t.Fatal("a store without a name opened")
	}
}
