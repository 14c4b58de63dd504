package metasim_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/passerelle/passerelle/gateway/connector/metasim"
)

const (
	phone = "106540352242922"
	token = "EAAsim"
)

type graphError struct {
	Error struct {
		Message   string `json:"message"`
		Type      string `json:"type"`
		Code      int    `json:"code"`
		ErrorData struct {
			MessagingProduct string `json:"messaging_product"`
			Details          string `json:"details"`
		} `json:"error_data"`
		FBTraceID string `json:"fbtrace_id"`
	} `json:"error"`
}

func do(t testing.TB, sim http.Handler, method, path, auth, body string) (int, []byte) {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	w := httptest.NewRecorder()
	sim.ServeHTTP(w, r)
	return w.Code, w.Body.Bytes()
}

const ok = `"messaging_product":"whatsapp","recipient_type":"individual","to":"16505551234"`

func buttons(titles ...string) string {
	var bs []string
	for i, t := range titles {
		bs = append(bs, `{"type":"reply","reply":{"id":"b`+string(rune('0'+i))+`","title":"`+t+`"}}`)
	}
	return `{` + ok + `,"type":"interactive","interactive":{"type":"button","body":{"text":"Pick"},"action":{"buttons":[` + strings.Join(bs, ",") + `]}}}`
}

func list(nrows int, rowTitle string) string {
	var rs []string
	for i := range nrows {
		rs = append(rs, `{"id":"r`+string(rune('a'+i))+`","title":"`+rowTitle+`"}`)
	}
	return `{` + ok + `,"type":"interactive","interactive":{"type":"list","body":{"text":"Pick"},"action":{"button":"Menu","sections":[{"title":"All","rows":[` + strings.Join(rs, ",") + `]}]}}}`
}

// The simulator checks requests on its own, as Meta documents them: these
// are requests no client of this repository would send.
func TestRefusesLikeMeta(t *testing.T) {
	path := "/v23.0/" + phone + "/messages"
	bearer := "Bearer " + token
	tests := []struct {
		name, method, path, auth, body string
		status, code                   int
		details                        string
	}{
		{"accepted text", "POST", path, bearer, `{` + ok + `,"type":"text","text":{"body":"hi"}}`, 200, 0, ""},
		{"type defaults to text", "POST", path, bearer, `{` + ok + `,"text":{"body":"hi"}}`, 200, 0, ""},
		{"no token", "POST", path, "", `{}`, 400, 2500, ""},
		{"wrong token", "POST", path, "Bearer guess", `{}`, 401, 190, ""},
		{"other number", "POST", "/v23.0/42/messages", bearer, `{}`, 400, 100, ""},
		{"bad path", "POST", "/messages", bearer, `{}`, 400, 100, ""},
		{"get", "GET", path, bearer, ``, 400, 100, ""},
		{"not json", "POST", path, bearer, `hi`, 400, 100, "not a JSON object"},
		{"no product", "POST", path, bearer, `{"to":"1","text":{"body":"hi"}}`, 400, 131009, "messaging_product"},
		{"no recipient", "POST", path, bearer, `{"messaging_product":"whatsapp","text":{"body":"hi"}}`, 400, 131009, "to is required"},
		{"text too long", "POST", path, bearer, `{` + ok + `,"text":{"body":"` + strings.Repeat("x", 4097) + `"}}`, 400, 131009, "text.body"},
		{"three buttons", "POST", path, bearer, buttons("A", "B", "C"), 200, 0, ""},
		{"four buttons", "POST", path, bearer, buttons("A", "B", "C", "D"), 400, 131009, "1 to 3 buttons"},
		{"title of 21", "POST", path, bearer, buttons(strings.Repeat("é", 21)), 400, 131009, "buttons[0].reply.title"},
		{"title of 20", "POST", path, bearer, buttons(strings.Repeat("é", 20)), 200, 0, ""},
		{"same titles", "POST", path, bearer, buttons("A", "A"), 400, 131009, "unique"},
		{"ten rows", "POST", path, bearer, list(10, "Row"), 200, 0, ""},
		{"eleven rows", "POST", path, bearer, list(11, "Row"), 400, 131009, "at most 10 rows"},
		{"row title 25", "POST", path, bearer, list(1, strings.Repeat("r", 25)), 400, 131009, "rows[0].title"},
		{"template without language", "POST", path, bearer, `{` + ok + `,"type":"template","template":{"name":"hello_world"}}`, 400, 131009, "language"},
		{"image", "POST", path, bearer, `{` + ok + `,"type":"image","image":{"link":"https://x"}}`, 400, 131009, "not one the simulator serves"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := metasim.New(metasim.Config{PhoneNumberID: phone, Token: token})
			status, body := do(t, sim, tt.method, tt.path, tt.auth, tt.body)
			if status != tt.status {
				t.Fatalf("status %d %s, want %d", status, body, tt.status)
			}
			if tt.status == 200 {
				var resp struct {
					Product  string `json:"messaging_product"`
					Contacts []struct {
						Input string `json:"input"`
						WaID  string `json:"wa_id"`
					} `json:"contacts"`
					Messages []struct {
						ID string `json:"id"`
					} `json:"messages"`
				}
				if err := json.Unmarshal(body, &resp); err != nil || resp.Product != "whatsapp" || len(resp.Messages) != 1 ||
					!strings.HasPrefix(resp.Messages[0].ID, "wamid.") || resp.Contacts[0].WaID != "16505551234" {
					t.Fatalf("answer %s is not Meta's shape", body)
				}
				if s := sim.Sent(); len(s) != 1 || s[0].ID != resp.Messages[0].ID {
					t.Fatalf("Sent() = %+v", s)
				}
				return
			}
			var e graphError
			if err := json.Unmarshal(body, &e); err != nil || e.Error.Code != tt.code || e.Error.Type != "OAuthException" || e.Error.FBTraceID == "" {
				t.Fatalf("answer %s, want Meta's error shape with code %d", body, tt.code)
			}
			if !strings.Contains(e.Error.ErrorData.Details, tt.details) {
				t.Fatalf("details %q, want %q in them", e.Error.ErrorData.Details, tt.details)
			}
			if len(sim.Sent()) != 0 {
				t.Fatal("a refused request was recorded as sent")
			}
		})
	}
}

func TestFailNext(t *testing.T) {
	sim := metasim.New(metasim.Config{PhoneNumberID: phone, Token: token})
	sim.FailNext(131047, 130429)
	body := `{` + ok + `,"text":{"body":"hi"}}`
	want := []struct{ status, code int }{{400, 131047}, {429, 130429}, {200, 0}}
	for i, w := range want {
		status, b := do(t, sim, "POST", "/v23.0/"+phone+"/messages", "Bearer "+token, body)
		var e graphError
		json.Unmarshal(b, &e)
		if status != w.status || e.Error.Code != w.code {
			t.Fatalf("send %d: %d %s, want %d code %d", i, status, b, w.status, w.code)
		}
	}
	// A malformed request is refused for what it is, without using up an
	// injected failure.
	sim.FailNext(131026)
	if status, _ := do(t, sim, "POST", "/v23.0/"+phone+"/messages", "Bearer "+token, `{}`); status != 400 {
		t.Fatal(status)
	}
	_, b := do(t, sim, "POST", "/v23.0/"+phone+"/messages", "Bearer "+token, body)
	var e graphError
	json.Unmarshal(b, &e)
	if e.Error.Code != 131026 {
		t.Fatalf("got %s, want the injected 131026", b)
	}
}
