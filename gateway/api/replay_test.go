package api_test

import (
	"net/http"
	"testing"

	"github.com/passerelle/passerelle/gateway/api"
)

// A server that keeps no recordings says so; bad replay requests are
// refused with what to fix; nothing is promoted.
func TestReplayRefusals(t *testing.T) {
	e := newEnv(t, 0)
	e.upload(t, "tok-m1", "shop", "1")
	e.upload(t, "tok-m1", "shop", "2")
	for _, c := range []struct {
		method, path string
		body         any
		status       int
		code         string
	}{
		{"POST", "/v1/apps/shop/replay", map[string]any{"version": "2"}, http.StatusServiceUnavailable, api.CodeUnavailable},
		{"GET", "/v1/apps/shop/recordings?last=5", nil, http.StatusServiceUnavailable, api.CodeUnavailable},
		{"POST", "/v1/apps/shop/promote", map[string]any{"version": "2", "replay_last": 10}, http.StatusServiceUnavailable, api.CodeUnavailable},
		{"POST", "/v1/apps/shop/replay", map[string]any{}, http.StatusBadRequest, api.CodeBadRequest},
		{"POST", "/v1/apps/shop/replay", map[string]any{"version": "2", "from": "monday"}, http.StatusBadRequest, api.CodeBadRequest},
		{"POST", "/v1/apps/shop/replay", map[string]any{"version": "2", "last": -1}, http.StatusBadRequest, api.CodeBadRequest},
		{"POST", "/v1/apps/shop/replay", map[string]any{"version": "2", "accept": []string{" "}}, http.StatusBadRequest, api.CodeBadRequest},
		{"POST", "/v1/apps/shop/replay", map[string]any{"version": "2", "colour": "red"}, http.StatusBadRequest, api.CodeBadRequest},
		{"GET", "/v1/apps/shop/recordings?last=many", nil, http.StatusBadRequest, api.CodeBadRequest},
		{"POST", "/v1/apps/shop/promote", map[string]any{"version": "2", "replay_last": -3}, http.StatusBadRequest, api.CodeBadRequest},
		{"POST", "/v1/apps/shop/promote", map[string]any{"version": "2", "accept": []string{"chat.send"}}, http.StatusBadRequest, api.CodeBadRequest},
	} {
		resp, data := e.do(t, c.method, c.path, "tok-m1", c.body)
		if resp.StatusCode != c.status || code(data) != c.code {
			t.Errorf("%s %s %v: %d %s, want %d %s", c.method, c.path, c.body, resp.StatusCode, data, c.status, c.code)
		}
	}
	if a, err := e.reg.App("shop"); err != nil || a.Live != "1" || a.Candidate != "" {
		t.Fatalf("app changed: %+v %v", a, err)
	}
}
