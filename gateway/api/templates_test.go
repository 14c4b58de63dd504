package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/passerelle/passerelle/gateway/connector/connstore"
)

func TestTemplatesFlow(t *testing.T) {
	e := newConnEnv(t, true)
	e.upload(t, "tok-m1", "lunch", "1")
	e.upload(t, "tok-m2", "rival", "1")
	c := e.call(t, "POST", "/v1/connections", "tok-m1", waRequest("lunch", "106540352242922", "ONE"), http.StatusCreated).Connection
	path := "/v1/connections/" + c.ID + "/templates"

	good := map[string]any{"name": "table_ready", "language": "en_US", "category": "UTILITY",
		"body": "Your table for {{1}} is ready, {{2}}.", "examples": []string{"4", "Ada"}}
	resp, data := e.do(t, "POST", path, "tok-m1", good)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("register: %d %s", resp.StatusCode, data)
	}

	tests := []struct {
		name   string
		change map[string]any
		want   string // in the error message
	}{
		{"name with a dash", map[string]any{"name": "table-ready"}, "lower-case letters"},
		{"no language", map[string]any{"language": ""}, "language code"},
		{"category", map[string]any{"category": "PROMO"}, "MARKETING, UTILITY or AUTHENTICATION"},
		{"out of sequence", map[string]any{"body": "Hi {{2}} and {{1}} there"}, "in order"},
		{"ends with a parameter", map[string]any{"body": "Your table for {{1}}", "examples": []string{"4"}}, "may not start or end"},
		{"missing examples", map[string]any{"examples": []string{"4"}}, "one sample value per parameter"},
		{"empty body", map[string]any{"body": "", "examples": nil}, "1 to 1024"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := map[string]any{}
			for k, v := range good {
				req[k] = v
			}
			for k, v := range tt.change {
				req[k] = v
			}
			resp, data := e.do(t, "POST", path, "tok-m1", req)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(data), tt.want) {
				t.Fatalf("%d %s, want 400 saying %q", resp.StatusCode, data, tt.want)
			}
		})
	}

	// Another merchant sees none of it.
	if resp, _ := e.do(t, "GET", path, "tok-m2", nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("another merchant's GET: %d", resp.StatusCode)
	}

	resp, data = e.do(t, "GET", path, "tok-m1", nil)
	var list struct {
		Templates []connstore.Template `json:"templates"`
	}
	if err := json.Unmarshal(data, &list); err != nil || resp.StatusCode != http.StatusOK || len(list.Templates) != 1 || list.Templates[0].Name != "table_ready" || list.Templates[0].Params() != 2 {
		t.Fatalf("list: %d %s", resp.StatusCode, data)
	}
	// An app's "table-ready" stands for table_ready.
	if got, err := e.conns.Template(context.Background(), c.ID, "table-ready"); err != nil || got.Body != good["body"] {
		t.Fatalf("lookup by the app's name: %+v, %v", got, err)
	}

	if resp, data := e.do(t, "DELETE", path+"/table_ready", "tok-m1", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("delete: %d %s", resp.StatusCode, data)
	}
	if resp, data := e.do(t, "DELETE", path+"/table_ready", "tok-m1", nil); resp.StatusCode != http.StatusNotFound || !strings.Contains(string(data), "template_not_found") {
		t.Fatalf("delete again: %d %s", resp.StatusCode, data)
	}
	if _, err := e.conns.Template(context.Background(), c.ID, "table_ready"); err == nil {
		t.Fatal("deleted template still found")
	}
}

func TestTemplatesOnlyOnWhatsApp(t *testing.T) {
	e := newConnEnv(t, true)
	e.upload(t, "tok-m1", "lunch", "1")
	c := e.call(t, "POST", "/v1/connections", "tok-m1", map[string]any{"network": "messenger", "account": "1234567890", "app": "lunch",
		"secrets": map[string]string{"access_token": "EAAGtokenONE", "app_secret": "appsecretONE", "verify_token": "verifyONE"}}, http.StatusCreated).Connection
	resp, data := e.do(t, "POST", "/v1/connections/"+c.ID+"/templates", "tok-m1", map[string]any{"name": "hello", "language": "en", "category": "UTILITY", "body": "Hello there"})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(data), "WhatsApp") {
		t.Fatalf("%d %s", resp.StatusCode, data)
	}
}
