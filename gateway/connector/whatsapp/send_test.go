package whatsapp_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/passerelle/passerelle/gateway/connector/metasim"
	"github.com/passerelle/passerelle/gateway/connector/whatsapp"
)

const (
	simPhone = "106540352242922"
	simToken = "EAAsim-token"
)

func newSim(t *testing.T, cfg metasim.Config) (*metasim.Server, string) {
	t.Helper()
	if cfg.PhoneNumberID == "" {
		cfg.PhoneNumberID = simPhone
	}
	if cfg.Token == "" {
		cfg.Token = simToken
	}
	sim := metasim.New(cfg)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	return sim, srv.URL
}

func newClient(t *testing.T, base string, mod func(*whatsapp.ClientConfig)) *whatsapp.Client {
	t.Helper()
	cfg := whatsapp.ClientConfig{BaseURL: base, PhoneNumberID: simPhone, Token: simToken, Backoff: time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	c, err := whatsapp.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func rows(n int) []whatsapp.Row {
	out := make([]whatsapp.Row, n)
	for i := range out {
		out[i] = whatsapp.Row{ID: "r" + string(rune('a'+i)), Title: "Row " + string(rune('A'+i))}
	}
	return out
}

// path reads a field of a JSON body by keys and indexes.
func path(t *testing.T, raw []byte, keys ...any) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		switch k := k.(type) {
		case string:
			v = v.(map[string]any)[k]
		case int:
			v = v.([]any)[k]
		}
	}
	return v
}

func TestSendShapes(t *testing.T) {
	tests := []struct {
		name string
		msg  whatsapp.Message
		typ  string
		at   []any
		want any
	}{
		{"text", whatsapp.Text{Body: "Your lunch is on its way"}, "text", []any{"text", "body"}, "Your lunch is on its way"},
		{"buttons", whatsapp.Buttons{Body: "Pay EUR 12.50?", Buttons: []whatsapp.Button{{ID: "pay", Title: "Pay"}, {ID: "no", Title: "Not now"}}},
			"interactive", []any{"interactive", "action", "buttons", 1, "reply", "title"}, "Not now"},
		{"list", whatsapp.List{Header: "Lunch", Body: "Pick a dish", Button: "Menu", Sections: []whatsapp.Section{{Rows: rows(10)}}},
			"interactive", []any{"interactive", "action", "sections", 0, "rows", 9, "id"}, "rj"},
		{"list sections", whatsapp.List{Body: "Pick", Button: "Menu", Sections: []whatsapp.Section{{Title: "Hot", Rows: rows(2)}, {Title: "Cold", Rows: []whatsapp.Row{{ID: "x", Title: "Salad", Description: "Greens"}}}}},
			"interactive", []any{"interactive", "action", "sections", 1, "rows", 0, "description"}, "Greens"},
		{"template", whatsapp.Template{Name: "order_ready", Language: "en_US", Params: []string{"Bruno"}},
			"template", []any{"template", "components", 0, "parameters", 0, "text"}, "Bruno"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim, base := newSim(t, metasim.Config{})
			id, err := newClient(t, base, nil).Send(context.Background(), "16505551234", tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			sent := sim.Sent()
			if len(sent) != 1 || sent[0].ID != id || sent[0].Type != tt.typ || sent[0].To != "16505551234" {
				t.Fatalf("sent %+v, id %q", sent, id)
			}
			if got := path(t, sent[0].Body, tt.at...); got != tt.want {
				t.Fatalf("%v = %v, want %v", tt.at, got, tt.want)
			}
		})
	}
}

func TestSendLimits(t *testing.T) {
	long := func(n int) string { return strings.Repeat("é", n) } // characters, not bytes
	three := []whatsapp.Button{{ID: "a", Title: "A"}, {ID: "b", Title: "B"}, {ID: "c", Title: "C"}}
	tests := []struct {
		name  string
		to    string
		msg   whatsapp.Message
		field string
	}{
		{"no recipient", "", whatsapp.Text{Body: "hi"}, "to"},
		{"empty text", "1", whatsapp.Text{}, "text.body"},
		{"text too long", "1", whatsapp.Text{Body: long(4097)}, "text.body"},
		{"four buttons", "1", whatsapp.Buttons{Body: "b", Buttons: append(three, whatsapp.Button{ID: "d", Title: "D"})}, "buttons"},
		{"no buttons", "1", whatsapp.Buttons{Body: "b"}, "buttons"},
		{"button title 21", "1", whatsapp.Buttons{Body: "b", Buttons: []whatsapp.Button{{ID: "a", Title: long(21)}}}, "buttons[0].title"},
		{"button id 257", "1", whatsapp.Buttons{Body: "b", Buttons: []whatsapp.Button{{ID: long(257), Title: "A"}}}, "buttons[0].id"},
		{"button twice", "1", whatsapp.Buttons{Body: "b", Buttons: []whatsapp.Button{{ID: "a", Title: "A"}, {ID: "b", Title: "A"}}}, "buttons[1]"},
		{"buttons body 1025", "1", whatsapp.Buttons{Body: long(1025), Buttons: three}, "body.text"},
		{"header 61", "1", whatsapp.Buttons{Header: long(61), Body: "b", Buttons: three}, "header.text"},
		{"footer 61", "1", whatsapp.Buttons{Footer: long(61), Body: "b", Buttons: three}, "footer.text"},
		{"row id twice", "1", whatsapp.List{Body: "b", Button: "Menu", Sections: []whatsapp.Section{{Title: "x", Rows: rows(6)}, {Title: "y", Rows: rows(5)[:5]}}}, "sections[1].rows[0].id"},
		{"eleven rows distinct", "1", whatsapp.List{Body: "b", Button: "Menu", Sections: []whatsapp.Section{{Rows: append(rows(10), whatsapp.Row{ID: "z", Title: "Z"})}}}, "action.sections"},
		{"row title 25", "1", whatsapp.List{Body: "b", Button: "Menu", Sections: []whatsapp.Section{{Rows: []whatsapp.Row{{ID: "a", Title: long(25)}}}}}, "sections[0].rows[0].title"},
		{"row description 73", "1", whatsapp.List{Body: "b", Button: "Menu", Sections: []whatsapp.Section{{Rows: []whatsapp.Row{{ID: "a", Title: "A", Description: long(73)}}}}}, "sections[0].rows[0].description"},
		{"list button 21", "1", whatsapp.List{Body: "b", Button: long(21), Sections: []whatsapp.Section{{Rows: rows(1)}}}, "action.button"},
		{"list body 1025", "1", whatsapp.List{Body: long(1025), Button: "Menu", Sections: []whatsapp.Section{{Rows: rows(1)}}}, "body.text"},
		{"eleven sections", "1", whatsapp.List{Body: "b", Button: "Menu", Sections: make([]whatsapp.Section, 11)}, "action.sections"},
		{"untitled of two sections", "1", whatsapp.List{Body: "b", Button: "Menu", Sections: []whatsapp.Section{{Title: "x", Rows: rows(1)}, {Rows: []whatsapp.Row{{ID: "z", Title: "Z"}}}}}, "sections[1].title"},
		{"template without name", "1", whatsapp.Template{Language: "en_US"}, "template.name"},
		{"template without language", "1", whatsapp.Template{Name: "hello_world"}, "template.language.code"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim, base := newSim(t, metasim.Config{})
			_, err := newClient(t, base, nil).Send(context.Background(), tt.to, tt.msg)
			le, ok := errors.AsType[*whatsapp.LimitError](err)
			if !ok || le.Field != tt.field {
				t.Fatalf("err = %v, want a limit error on %s", err, tt.field)
			}
			if len(sim.Sent()) != 0 {
				t.Fatal("a message breaking a limit was sent")
			}
		})
	}
}

// Each code Meta documents gets its class, and only throughput and
// passing failures are retried.
func TestSendErrorCodes(t *testing.T) {
	tests := []struct {
		code  int
		class whatsapp.Class
		retry bool
	}{
		{130429, whatsapp.ClassThrottled, true},
		{131056, whatsapp.ClassThrottled, true},
		{131000, whatsapp.ClassTransient, true},
		{131047, whatsapp.ClassWindowClosed, false},
		{131026, whatsapp.ClassUndeliverable, false},
		{131050, whatsapp.ClassConsent, false},
		{190, whatsapp.ClassAuth, false},
		{131048, whatsapp.ClassPolicy, false},
		{132001, whatsapp.ClassTemplate, false},
		{131009, whatsapp.ClassInvalid, false},
		{999999, whatsapp.ClassUnknown, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d_%s", tt.code, tt.class), func(t *testing.T) {
			sim, base := newSim(t, metasim.Config{})
			// One refusal, then the simulator accepts: a retried error
			// ends in a send, a final one does not.
			sim.FailNext(tt.code)
			id, err := newClient(t, base, nil).Send(context.Background(), "16505551234", whatsapp.Text{Body: "hi"})
			if tt.retry {
				if err != nil || id == "" || len(sim.Sent()) != 1 {
					t.Fatalf("code %d: id %q err %v sent %d; want retried once and sent once", tt.code, id, err, len(sim.Sent()))
				}
				return
			}
			e, ok := errors.AsType[*whatsapp.Error](err)
			if !ok || e.Code != tt.code || e.Class != tt.class || e.Retry() {
				t.Fatalf("code %d: err = %#v, want class %s without retry", tt.code, err, tt.class)
			}
			if len(sim.Sent()) != 0 {
				t.Fatalf("code %d: the message was sent after a final refusal", tt.code)
			}
			if whatsapp.Classify(tt.code) != tt.class {
				t.Fatalf("Classify(%d) = %s", tt.code, whatsapp.Classify(tt.code))
			}
		})
	}
}

func TestSendGivesUpAfterMaxAttempts(t *testing.T) {
	sim, base := newSim(t, metasim.Config{})
	sim.FailNext(130429, 130429, 130429)
	_, err := newClient(t, base, func(c *whatsapp.ClientConfig) { c.MaxAttempts = 3 }).Send(context.Background(), "1", whatsapp.Text{Body: "hi"})
	e, ok := errors.AsType[*whatsapp.Error](err)
	if !ok || e.Class != whatsapp.ClassThrottled || e.HTTPStatus != 429 || !strings.Contains(e.Error(), "130429") {
		t.Fatalf("err = %v, want the third throttling refusal", err)
	}
	// The simulator's queue is empty: exactly three requests were made.
	if _, err := newClient(t, base, nil).Send(context.Background(), "1", whatsapp.Text{Body: "hi"}); err != nil {
		t.Fatalf("a fourth request was refused (%v): the client made more than MaxAttempts requests", err)
	}
}

func TestSendPairRateLimit(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	sim, base := newSim(t, metasim.Config{PairInterval: 6 * time.Second, Now: func() time.Time { return now }})
	c := newClient(t, base, func(c *whatsapp.ClientConfig) { c.MaxAttempts = 1 })
	ctx := context.Background()
	if _, err := c.Send(ctx, "1", whatsapp.Text{Body: "one"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Send(ctx, "2", whatsapp.Text{Body: "another person"}); err != nil {
		t.Fatalf("another person is throttled: %v", err)
	}
	_, err := c.Send(ctx, "1", whatsapp.Text{Body: "two"})
	if e, ok := errors.AsType[*whatsapp.Error](err); !ok || e.Code != 131056 || !e.Retry() {
		t.Fatalf("err = %v, want 131056 to retry", err)
	}
	now = now.Add(6 * time.Second)
	if _, err := c.Send(ctx, "1", whatsapp.Text{Body: "two"}); err != nil {
		t.Fatal(err)
	}
	if n := len(sim.Sent()); n != 3 {
		t.Fatalf("%d sent, want 3", n)
	}
}

func TestSendAuth(t *testing.T) {
	_, base := newSim(t, metasim.Config{})
	_, err := newClient(t, base, func(c *whatsapp.ClientConfig) { c.Token = "stolen" }).Send(context.Background(), "1", whatsapp.Text{Body: "hi"})
	if e, ok := errors.AsType[*whatsapp.Error](err); !ok || e.Code != 190 || e.Class != whatsapp.ClassAuth || e.HTTPStatus != 401 {
		t.Fatalf("err = %v, want 190 auth", err)
	}
	_, err = newClient(t, base, func(c *whatsapp.ClientConfig) { c.PhoneNumberID = "999" }).Send(context.Background(), "1", whatsapp.Text{Body: "hi"})
	if e, ok := errors.AsType[*whatsapp.Error](err); !ok || e.Code != 100 || e.Class != whatsapp.ClassInvalid {
		t.Fatalf("err = %v, want 100 invalid for an unknown number", err)
	}
}

// A request that times out may have been sent: it is not retried, and
// its error says the outcome is unknown.
func TestSendTimeoutNotRetried(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	// Requests are counted as the client makes them: on a slow machine
	// the 50 ms may be over before the server's handler runs at all.
	calls := &countRequests{}
	_, err := newClient(t, srv.URL, func(c *whatsapp.ClientConfig) {
		c.Timeout, c.HTTP = 50*time.Millisecond, &http.Client{Transport: calls}
	}).Send(context.Background(), "1", whatsapp.Text{Body: "hi"})
	if e, ok := errors.AsType[*whatsapp.Error](err); !ok || e.Class != whatsapp.ClassUnknown || e.Retry() {
		t.Fatalf("err = %v, want an unknown outcome", err)
	}
	if n := calls.n.Load(); n != 1 {
		t.Fatalf("%d requests, want 1", n)
	}
}

// countRequests is a transport that counts the requests made through it.
type countRequests struct{ n atomic.Int32 }

func (c *countRequests) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

func TestSendBackoffStopsWithContext(t *testing.T) {
	sim, base := newSim(t, metasim.Config{})
	sim.FailNext(130429, 130429)
	ctx, cancel := context.WithCancel(context.Background())
	// The context ends once the first refusal was read, during the
	// backoff (a fixed delay could end it before Meta answered, on a slow
	// machine, and the send would fail with an unknown outcome instead).
	read := &firstRead{done: make(chan struct{})}
	c := newClient(t, base, func(c *whatsapp.ClientConfig) { c.Backoff, c.HTTP = time.Hour, &http.Client{Transport: read} })
	go func() { <-read.done; cancel() }()
	_, err := c.Send(ctx, "1", whatsapp.Text{Body: "hi"})
	if e, ok := errors.AsType[*whatsapp.Error](err); !ok || e.Code != 130429 {
		t.Fatalf("err = %v, want the refusal when the context ends during the backoff", err)
	}
}

func TestNewClientRefuses(t *testing.T) {
	tests := []struct {
		name string
		cfg  whatsapp.ClientConfig
		want string
	}{
		{"no number", whatsapp.ClientConfig{Token: "t"}, "phone number id"},
		{"number with slash", whatsapp.ClientConfig{PhoneNumberID: "1/2", Token: "t"}, "phone number id"},
		{"no token", whatsapp.ClientConfig{PhoneNumberID: "1"}, "access token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := whatsapp.NewClient(tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one about the %s", err, tt.want)
			}
		})
	}
}

// firstRead is a transport that closes done once the body of the first
// answer was read and closed.
type firstRead struct {
	once sync.Once
	done chan struct{}
}

func (f *firstRead) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = closeHook{resp.Body, func() { f.once.Do(func() { close(f.done) }) }}
	return resp, nil
}

type closeHook struct {
	io.ReadCloser
	hook func()
}

func (c closeHook) Close() error {
	err := c.ReadCloser.Close()
	c.hook()
	return err
}
