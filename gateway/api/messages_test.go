package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/gateway/api"
	"github.com/passerelle/passerelle/gateway/msgstate"
	"github.com/passerelle/passerelle/host"
)

// TestMessages: a merchant reads what became of its app's messages, one
// by one with their history and in the stats by surface with the rates;
// another merchant, or another app's message id, gets not found.
func TestMessages(t *testing.T) {
	ctx := context.Background()
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "states.db"), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	states, err := msgstate.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(states.Close)
	e := newEnvWith(t, 0, func(c *api.Config) { c.Messages = states })
	e.upload(t, "tok-m1", "shop", "1.0.0")
	e.upload(t, "tok-m2", "ride", "1.0.0")

	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, m := range []msgstate.Move{
		{Message: "msg_a", App: "shop", Conversation: "cv_1", Surface: "whatsapp", State: host.StateSent, At: t0},
		{Message: "msg_a", App: "shop", Conversation: "cv_1", Surface: "whatsapp", State: host.StateRead, At: t0.Add(time.Minute)},
		{Message: "msg_b", App: "shop", Conversation: "cv_2", Surface: "whatsapp", State: host.StateFailed, Code: "window_closed", NetworkCode: 131047, At: t0},
		{Message: "msg_c", App: "shop", Conversation: "cv_3", Surface: "web", State: host.StateDelivered, At: t0},
		{Message: "msg_r", App: "ride", Conversation: "cv_4", Surface: "web", State: host.StateRead, At: t0},
	} {
		if _, err := states.Record(ctx, m, nil); err != nil {
			t.Fatal(err)
		}
	}

	resp, data := e.do(t, "GET", "/v1/apps/shop/messages/msg_a", "tok-m1", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET msg_a: %d %s", resp.StatusCode, data)
	}
	var m msgstate.Message
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	want := msgstate.Message{ID: "msg_a", App: "shop", Conversation: "cv_1", Surface: "whatsapp", State: host.StateRead,
		History: []msgstate.Entry{{State: host.StateSent, At: t0}, {State: host.StateRead, At: t0.Add(time.Minute)}}}
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("msg_a: %+v\nwant %+v", m, want)
	}
	if strings.Contains(string(data), "person") {
		t.Fatalf("the answer names a person: %s", data)
	}
	_, data = e.do(t, "GET", "/v1/apps/shop/messages/msg_b", "tok-m1", nil)
	if !strings.Contains(string(data), `"code":"window_closed","network_code":131047`) {
		t.Fatalf("msg_b: %s", data)
	}

	for _, tc := range []struct {
		path, token, code string
		status            int
	}{
		{"/v1/apps/shop/messages/msg_r", "tok-m1", api.CodeMessageNotFound, 404}, // ride's message, asked of shop
		{"/v1/apps/shop/messages/msg_zz", "tok-m1", api.CodeMessageNotFound, 404},
		{"/v1/apps/shop/messages/msg_a", "tok-m2", api.CodeAppNotFound, 404},
		{"/v1/apps/shop/messages/msg_a", "tok-person", api.CodeMerchantOnly, 403},
	} {
		resp, data := e.do(t, "GET", tc.path, tc.token, nil)
		if resp.StatusCode != tc.status || code(data) != tc.code {
			t.Errorf("GET %s as %s: %d %s, want %d %s", tc.path, tc.token, resp.StatusCode, data, tc.status, tc.code)
		}
	}

	resp, data = e.do(t, "GET", "/v1/apps/shop/stats", "tok-m1", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("stats: %d %s", resp.StatusCode, data)
	}
	var st struct {
		Messages []api.MessageFigures `json:"messages"`
	}
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatal(err)
	}
	wantFigs := []api.MessageFigures{
		{Surface: "web", Sent: 1, Delivered: 1, DeliveryRate: 1},
		{Surface: "whatsapp", Sent: 2, Delivered: 1, Read: 1, Failed: 1, Failures: map[string]uint64{"window_closed": 1}, DeliveryRate: 0.5, ReadRate: 0.5},
	}
	if !reflect.DeepEqual(st.Messages, wantFigs) {
		t.Fatalf("stats messages %+v\nwant %+v", st.Messages, wantFigs)
	}
}
