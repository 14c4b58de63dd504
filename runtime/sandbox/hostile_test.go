package sandbox_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/sandbox"
)

// TestHostileEvents runs each hostile guest twice, checks the typed error
// each time, and checks that a good app on the same engine is unaffected.
func TestHostileEvents(t *testing.T) {
	tests := []struct {
		name   string
		perms  []host.Permission
		limits host.Limits
		check  func(t *testing.T, err error)
	}{
		{"loop", nil, host.Limits{EventTimeoutMS: 50}, wantLimit("deadline", 50, 0, "deadline: ")},
		{"grow_past", nil, host.Limits{MemoryPages: 16}, wantLimit("memory", 16, 16, "memory: 16 pages in use reached limit 16 pages")},
		{"recurse", nil, host.Limits{}, wantLimit("call_depth", sandbox.MaxCallDepth, sandbox.MaxCallDepth+1, "call_depth: 10001 calls > limit 10000 calls")},
		{"badptr", chat, host.Limits{}, wantABI("pointer.range", "chat.send request: bytes [65530, 65630) lie outside guest memory of 65536 bytes")},
		{"badread", nil, host.Limits{}, wantABI("pointer.range", "event_read")},
		{"flood", chat, host.Limits{}, wantLimit("host_calls", 1000, 1001, "host_calls: 1001 calls > limit 1000 calls")},
		{"bigout", chat, host.Limits{}, wantLimit("call_bytes", 256<<10, 1<<20, "call_bytes: 1048576 bytes > limit 262144 bytes")},
		{"biglog", nil, host.Limits{LogBytes: 4096}, wantLimit("log_bytes", 4096, 5120, "log_bytes: 5120 bytes > limit 4096 bytes")},
		{"status", nil, host.Limits{LogBytes: 10}, wantLimit("log_bytes", 10, 15, "log_bytes: 15 bytes > limit 10 bytes")},
		{"badutf8", chat, host.Limits{}, wantABI("request.utf8", "UTF-8")},
		{"badjson", chat, host.Limits{}, wantABI("request.json", "JSON")},
	}
	e, logs := newEngine(t, nil)
	good := load(t, e, fixture(t, "echo", chat, host.Limits{}))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := load(t, e, fixture(t, tt.name, tt.perms, tt.limits))
			for round := range 2 {
				ob := &outbox{}
				_, err := bad.Dispatch(context.Background(), event(ob))
				if err == nil {
					t.Fatalf("round %d: hostile event succeeded", round)
				}
				tt.check(t, err)
				if _, err := good.Dispatch(context.Background(), event(ob)); err != nil {
					t.Fatalf("round %d: good app after hostile event: %v", round, err)
				}
			}
			st := bad.Stats()
			if st.Discarded != 2 || st.Created != 2 || st.Idle != 0 {
				t.Errorf("stats = %+v, want both failed instances discarded", st)
			}
			if err := bad.Close(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
	if n := len(logs.find("failure")); n != 2*len(tests) {
		t.Errorf("%d failure records, want %d", n, 2*len(tests))
	}
	if st := good.Stats(); st.Discarded != 0 || st.Created != 1 {
		t.Errorf("good app stats = %+v", st)
	}
}

func TestGrowToLimitRecycles(t *testing.T) {
	e, _ := newEngine(t, nil)
	a := load(t, e, fixture(t, "grow_limit", nil, host.Limits{MemoryPages: 16}))
	for range 2 {
		if _, err := a.Dispatch(context.Background(), event(nil)); err != nil {
			t.Fatal(err)
		}
	}
	if st := a.Stats(); st.Recycled != 2 || st.Discarded != 2 || st.Created != 2 {
		t.Errorf("stats = %+v, want each instance recycled after reaching the cap", st)
	}
}

// TestHostileModules covers modules refused before they run.
func TestHostileModules(t *testing.T) {
	tests := []struct {
		name  string
		wasm  func(t *testing.T) []byte
		check func(t *testing.T, err error)
	}{
		{"unknown import", func(t *testing.T) []byte { return fixture(t, "unknown_import", nil, host.Limits{}) }, wantRule("import.unknown")},
		{"imports the meter", func(t *testing.T) []byte { return fixture(t, "import_meter", nil, host.Limits{}) }, wantRule("import.unknown")},
		{"missing exports", func(t *testing.T) []byte { return fixture(t, "no_exports", nil, host.Limits{}) }, wantRule("export.on_event")},
		{"non-wasm file", func(t *testing.T) []byte { return []byte("#!/bin/sh\nrm -rf /\n") }, wantRule("module.invalid")},
		{"0-byte file", func(t *testing.T) []byte { return []byte{} }, wantRule("module.empty")},
		{"command module", func(t *testing.T) []byte { return fixture(t, "command", chat, host.Limits{}) }, wantRule("export.start")},
		{"start function traps", func(t *testing.T) []byte { return fixture(t, "start_trap", nil, host.Limits{}) }, wantTrap("unreachable")},
		{"start function calls the host", func(t *testing.T) []byte { return fixture(t, "start_call", nil, host.Limits{}) }, wantABI("call.outside_event", "log")},
		{"_initialize loops", func(t *testing.T) []byte { return fixture(t, "init_loop", nil, host.Limits{EventTimeoutMS: 50}) }, wantLimit("deadline", 50*sandbox.StartFactor, 0, "deadline: ")}, // a start gets StartFactor deadlines
		{"permission not granted", func(t *testing.T) []byte { return fixture(t, "echo", nil, host.Limits{}) }, wantRule("import.permission")},
	}
	e, _ := newEngine(t, nil)
	goodWasm := fixture(t, "echo", chat, host.Limits{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wasm := tt.wasm(t)
			for range 2 {
				a, err := e.Load(context.Background(), host.AppRef{Merchant: "evil"}, wasm)
				if err == nil {
					_ = a.Close(context.Background())
					t.Fatal("hostile module loaded")
				}
				tt.check(t, err)
				g := load(t, e, goodWasm)
				if _, err := g.Dispatch(context.Background(), event(nil)); err != nil {
					t.Fatalf("good app after hostile module: %v", err)
				}
				_ = g.Close(context.Background())
			}
		})
	}
}

func wantLimit(limit string, max, got uint64, msg string) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		var le *sandbox.LimitError
		if !errors.As(err, &le) {
			t.Fatalf("err = %T %v, want *LimitError", err, err)
		}
		if le.Limit != limit || le.Max != max || (got != 0 && le.Got != got) {
			t.Errorf("LimitError = %+v, want %s max %d got %d", le, limit, max, got)
		}
		if limit == "deadline" && le.Got < max {
			t.Errorf("deadline error after %d ms, before the %d ms limit", le.Got, max)
		}
		if !strings.Contains(err.Error(), msg) {
			t.Errorf("message %q does not contain %q", err, msg)
		}
	}
}

func wantTrap(reason string) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		var te *sandbox.TrapError
		if !errors.As(err, &te) || !strings.Contains(te.Reason, reason) {
			t.Fatalf("err = %T %v, want *TrapError about %q", err, err, reason)
		}
	}
}

func wantABI(rule, problem string) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		var ae *sandbox.ABIError
		if !errors.As(err, &ae) || ae.Rule != rule || !strings.Contains(ae.Problem, problem) {
			t.Fatalf("err = %T %v, want *ABIError %s about %q", err, err, rule, problem)
		}
	}
}

func wantRule(rule string) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		var ce *sandbox.CheckError
		if !errors.As(err, &ce) {
			t.Fatalf("err = %T %v, want *CheckError", err, err)
		}
		for _, v := range ce.Report.Violations {
			if v.Rule == rule {
				return
			}
		}
		t.Errorf("violations %+v lack rule %s", ce.Report.Violations, rule)
	}
}

// TestCallerDeadline: a Dispatch context with a deadline shorter than the
// app's stops the event at the caller's deadline.
func TestCallerDeadline(t *testing.T) {
	e, _ := newEngine(t, nil)
	a := load(t, e, fixture(t, "loop", nil, host.Limits{EventTimeoutMS: 60000}))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	_, err := a.Dispatch(ctx, event(nil))
	var le *sandbox.LimitError
	if !errors.As(err, &le) || le.Limit != "deadline" || le.Max > 30 || le.Got <= le.Max {
		t.Fatalf("err = %v, want deadline at the caller's deadline", err)
	}
}
