package api_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/passerelle/passerelle/gateway/api"
	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/wasmfile"
)

// sandboxFixture returns a module of runtime/sandbox/testdata as app id,
// version 2, asking for limits.
func sandboxFixture(t *testing.T, name, id string, limits host.Limits) []byte {
	t.Helper()
	raw, err := os.ReadFile("../../runtime/sandbox/testdata/" + name + ".wasm")
	if err != nil {
		t.Fatal(err)
	}
	out, err := wasmfile.EmbedManifest(raw, &host.Manifest{ABI: host.ABIVersion, ID: id, Name: name,
		Version: "2", Limits: limits})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestUploadRefusalsNameTheRule checks that an upload refused for its
// limits or for what it does while starting is a 422 whose message and
// violations name the rule, the ceiling and what to do.
func TestUploadRefusalsNameTheRule(t *testing.T) {
	e := newEnv(t, 0)
	e.upload(t, "tok-m1", "shop", "1")
	tests := []struct {
		name    string
		wasm    []byte
		code    string
		rule    string
		message []string // substrings of the message
	}{
		{"memory above the ceiling", sandboxFixture(t, "noop", "shop", host.Limits{MemoryPages: 65536}), api.CodeModuleRejected, "limits.max",
			[]string{"limits.memory_pages", "asks for 65536 pages", "max_limits.memory_pages is 4096 pages", "4096 or less"}},
		{"deadline above the ceiling", sandboxFixture(t, "noop", "shop", host.Limits{EventTimeoutMS: 4294967295}), api.CodeModuleRejected, "limits.max",
			[]string{"asks for 4294967295 ms", "max_limits.event_timeout_ms is 10000 ms"}},
		{"host call from the start function", sandboxFixture(t, "start_call", "shop", host.Limits{}), api.CodeModuleFailed, "call.outside_event",
			[]string{"call.outside_event", "log called outside passerelle_v1_on_event"}},
		{"host call from _initialize", sandboxFixture(t, "init_call", "shop", host.Limits{}), api.CodeModuleFailed, "call.outside_event",
			[]string{"call.outside_event", "log called outside passerelle_v1_on_event"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, data := e.do(t, "POST", "/v1/apps/shop/versions", "tok-m1", tt.wasm)
			var b errorBody
			if err := json.Unmarshal(data, &b); err != nil {
				t.Fatalf("body not JSON: %s", data)
			}
			if resp.StatusCode != 422 || b.Error.Code != tt.code {
				t.Fatalf("got %d %s, want 422 %s", resp.StatusCode, data, tt.code)
			}
			for _, s := range tt.message {
				if !strings.Contains(b.Error.Message, s) {
					t.Errorf("message %q does not say %q", b.Error.Message, s)
				}
			}
			if len(b.Error.Violations) != 1 || b.Error.Violations[0].Rule != tt.rule || b.Error.Violations[0].Fix == "" {
				t.Errorf("violations = %+v, want one %s with a fix", b.Error.Violations, tt.rule)
			}
			if a, _ := e.reg.App("shop"); len(a.Versions) != 1 {
				t.Errorf("a refused upload was stored: %+v", a.Versions)
			}
		})
	}
}
