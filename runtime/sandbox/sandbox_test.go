package sandbox_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/sandbox"
	"github.com/passerelle/passerelle/runtime/wasmfile"
)

func TestDispatchEcho(t *testing.T) {
	e, logs := newEngine(t, nil)
	a := load(t, e, fixture(t, "echo", chat, host.Limits{}))
	if got := a.Ref(); got != (host.AppRef{Merchant: "m1", App: "fx-echo", Version: "1.0.0"}) {
		t.Errorf("Ref() = %+v", got)
	}
	ob := &outbox{}
	var traces []sandbox.CallTrace
	ev := event(ob)
	ev.Trace = func(ct sandbox.CallTrace) {
		ct.Request, ct.Response = slices.Clone(ct.Request), slices.Clone(ct.Response)
		traces = append(traces, ct)
	}
	for i := range 3 {
		res, err := a.Dispatch(context.Background(), ev)
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if res.Status != 0 || res.HostCalls != 1 {
			t.Errorf("event %d: result %+v, want status 0 and 1 host call", i, res)
		}
		if res.BytesOut != len(payload) || res.BytesIn != len(payload)+len(`{"id":"m1"}`) {
			t.Errorf("event %d: bytes in %d out %d", i, res.BytesIn, res.BytesOut)
		}
	}
	msgs := ob.all()
	if len(msgs) != 3 {
		t.Fatalf("outbox got %d messages, want 3", len(msgs))
	}
	if msgs[0].Message.Text != payload || msgs[0].App != a.Ref() || msgs[0].Conversation != "c1" {
		t.Errorf("message = %+v", msgs[0])
	}
	if len(traces) != 3 || traces[0].Op != "chat.send" || string(traces[0].Response) != `{"id":"m1"}` || traces[0].Status != host.StatusOK {
		t.Errorf("traces = %+v", traces)
	}
	lines := logs.find("log")
	if len(lines) != 3 || lines[0].Message != `{"id":"m1"}` || lines[0].EventID != "e1" {
		t.Errorf("log lines = %+v", lines)
	}
	st := a.Stats()
	if st.Created != 1 || st.Idle != 1 || st.Busy != 0 || st.Events != 3 || st.Discarded != 0 {
		t.Errorf("stats = %+v, want one warm instance reused", st)
	}
}

func TestHostErrorReachesGuest(t *testing.T) {
	e, logs := newEngine(t, nil)
	a := load(t, e, fixture(t, "echo", chat, host.Limits{}))
	// The test chat.send refuses a JSON string with quota_exceeded; echo
	// logs the error document and returns its status.
	res, err := a.Dispatch(context.Background(), &sandbox.Event{Payload: []byte(`"spam"`)})
	var ge *sandbox.GuestError
	if !errors.As(err, &ge) || ge.Status != uint32(host.StatusQuota) || res.Status != uint32(host.StatusQuota) {
		t.Fatalf("Dispatch = %+v, %v; want GuestError status 4", res, err)
	}
	lines := logs.find("log")
	if len(lines) != 1 || !strings.Contains(lines[0].Message, `"status":4,"code":"quota_exceeded","message":"too many messages; wait a minute"`) {
		t.Errorf("log = %+v", lines)
	}
	if st := a.Stats(); st.Guest != 1 || st.Discarded != 0 {
		t.Errorf("stats = %+v: a guest error must keep the instance", st)
	}
}

func TestStdoutAndStatus(t *testing.T) {
	e, logs := newEngine(t, nil)
	a := load(t, e, fixture(t, "status", nil, host.Limits{}))
	for range 2 {
		_, err := a.Dispatch(context.Background(), &sandbox.Event{Payload: []byte(`{}`), Caller: host.Caller{EventID: "e9"}})
		var ge *sandbox.GuestError
		if !errors.As(err, &ge) || ge.Status != 7 {
			t.Fatalf("err = %v, want GuestError 7", err)
		}
	}
	out := logs.find("stdout")
	if len(out) != 2 || out[0].Message != "hi from stdout" || out[0].EventID != "e9" {
		t.Errorf("stdout records = %+v", out)
	}
	if st := a.Stats(); st.Created != 1 {
		t.Errorf("created %d instances, want 1", st.Created)
	}
}

func TestCheck(t *testing.T) {
	e, _ := newEngine(t, func(c *sandbox.Config) { c.Max = host.Limits{MemoryPages: 32} })
	noManifestButValid := rawFixture(t, "noop")
	badManifest := append(append([]byte{}, noManifestButValid...), 0, 0x18, 19)
	badManifest = append(badManifest, wasmfile.SectionName...)
	badManifest = append(badManifest, `{"x":1}`...)
	badManifest[len(noManifestButValid)+1] = byte(1 + 19 + 7)
	textAsPNG, err := wasmfile.EmbedCustom(fixture(t, "noop", nil, host.Limits{}), "passerelle.assets", []byte(`[{"name":"tee.png","data":"aGVsbG8="}]`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		wasm  []byte
		rules []string
	}{
		{"noop", fixture(t, "noop", nil, host.Limits{}), nil},
		{"echo", fixture(t, "echo", chat, host.Limits{}), nil},
		{"empty file", nil, []string{"module.empty"}},
		{"text file", []byte("(module)"), []string{"module.invalid"}},
		{"broken wasm", append(fixture(t, "noop", nil, host.Limits{})[:8], 1, 9, 9), []string{"module.invalid"}},
		{"no manifest", noManifestButValid, []string{"manifest.missing"}},
		{"bad manifest", badManifest, []string{"manifest.invalid"}},
		{"text named png in assets", textAsPNG, []string{"assets.invalid"}},
		{"permission", fixture(t, "echo", nil, host.Limits{}), []string{"import.permission"}},
		{"unknown imports", fixture(t, "unknown_import", nil, host.Limits{}), []string{"import.unknown", "import.unknown"}},
		{"imported memory and global", fixture(t, "import_memory", nil, host.Limits{}), []string{"import.unknown", "import.unknown"}},
		{"no exports", fixture(t, "no_exports", nil, host.Limits{}), []string{"export.memory", "export.on_event"}},
		{"command", fixture(t, "command", chat, host.Limits{}), []string{"import.signature", "export.start", "export.signature", "export.signature"}},
		{"memory over limit", fixture(t, "big_memory", nil, host.Limits{MemoryPages: 16}), []string{"memory.limit", "memory.limit"}},
		{"memory within limit", fixture(t, "big_memory", nil, host.Limits{MemoryPages: 32}), []string{"memory.limit"}},
		{"over max", fixture(t, "noop", nil, host.Limits{MemoryPages: 64}), []string{"limits.max"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := e.Check(context.Background(), tt.wasm)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, v := range rep.Violations {
				got = append(got, v.Rule)
				if v.Where == "" || v.Problem == "" || v.Fix == "" {
					t.Errorf("violation %+v lacks Where, Problem or Fix", v)
				}
			}
			slices.Sort(got)
			want := slices.Clone(tt.rules)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("rules = %v, want %v\n%+v", got, want, rep.Violations)
			}
			if rep.OK() != (len(tt.rules) == 0) {
				t.Errorf("OK() = %v", rep.OK())
			}
			// Load agrees with Check.
			_, err = e.Load(context.Background(), host.AppRef{Merchant: "m"}, tt.wasm)
			var ce *sandbox.CheckError
			if len(tt.rules) > 0 && (!errors.As(err, &ce) || len(ce.Report.Violations) != len(tt.rules)) {
				t.Errorf("Load err = %v, want CheckError with %d violations", err, len(tt.rules))
			}
			if len(tt.rules) == 0 && err != nil {
				t.Errorf("Load err = %v", err)
			}
		})
	}
}

func TestCheckReportsImportsAndExports(t *testing.T) {
	e, _ := newEngine(t, nil)
	rep, err := e.Check(context.Background(), fixture(t, "echo", chat, host.Limits{}))
	if err != nil {
		t.Fatal(err)
	}
	wantImports := []string{"passerelle_v1.event_read", "passerelle_v1.result_read", "passerelle_v1.log", "passerelle_v1.chat_send"}
	if !slices.Equal(rep.Imports, wantImports) {
		t.Errorf("Imports = %v", rep.Imports)
	}
	if !slices.Equal(rep.Exports, []string{"memory", "passerelle_v1_on_event"}) {
		t.Errorf("Exports = %v", rep.Exports)
	}
	if rep.Manifest == nil || rep.Manifest.ID != "fx-echo" {
		t.Errorf("Manifest = %+v", rep.Manifest)
	}
}

func TestLimits(t *testing.T) {
	e, _ := newEngine(t, func(c *sandbox.Config) {
		c.Defaults = host.Limits{EventTimeoutMS: 500}
		c.Max = host.Limits{MemoryPages: 256, EventTimeoutMS: 300}
	})
	a := load(t, e, fixture(t, "noop", nil, host.Limits{HostCallsPerEvent: 5}))
	want := sandbox.BuiltinDefaults()
	want.MemoryPages = 256    // default 1024 capped by Max
	want.EventTimeoutMS = 300 // configured default 500 capped by Max
	want.HostCallsPerEvent = 5
	if got := a.Limits(); got != want {
		t.Errorf("Limits() = %+v, want %+v", got, want)
	}
}

func TestEventBytes(t *testing.T) {
	e, _ := newEngine(t, nil)
	a := load(t, e, fixture(t, "echo", chat, host.Limits{EventBytes: 100, CallBytes: 100}))
	_, err := a.Dispatch(context.Background(), &sandbox.Event{Payload: []byte(`"` + strings.Repeat("x", 200) + `"`)})
	var le *sandbox.LimitError
	if !errors.As(err, &le) || le.Limit != "event_bytes" || le.Got != 202 || le.Max != 100 {
		t.Fatalf("err = %v, want event_bytes 202 > 100", err)
	}
	if want := "event_bytes: 202 bytes > limit 100 bytes"; err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}
	// The event payload plus the request plus the response pass 100 bytes.
	_, err = a.Dispatch(context.Background(), &sandbox.Event{Payload: []byte(`"` + strings.Repeat("x", 40) + `"`)})
	if !errors.As(err, &le) || le.Limit != "event_bytes" {
		t.Fatalf("err = %v, want event_bytes", err)
	}
}

func TestClose(t *testing.T) {
	e, _ := newEngine(t, nil)
	wasm := fixture(t, "noop", nil, host.Limits{})
	a := load(t, e, wasm)
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Dispatch(context.Background(), event(nil)); !errors.Is(err, sandbox.ErrClosed) {
		t.Errorf("Dispatch after App.Close: %v, want ErrClosed", err)
	}
	b := load(t, e, wasm)
	if err := e.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Dispatch(context.Background(), event(nil)); !errors.Is(err, sandbox.ErrClosed) {
		t.Errorf("Dispatch after Engine.Close: %v, want ErrClosed", err)
	}
	if _, err := e.Load(context.Background(), host.AppRef{}, wasm); !errors.Is(err, sandbox.ErrClosed) {
		t.Errorf("Load after Engine.Close: %v, want ErrClosed", err)
	}
}

func TestPoolBound(t *testing.T) {
	e, _ := newEngine(t, func(c *sandbox.Config) { c.PoolSize = 3 })
	a := load(t, e, fixture(t, "echo", chat, host.Limits{}))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				if _, err := a.Dispatch(context.Background(), event(nil)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	st := a.Stats()
	if st.Created > 3 || st.Events != 400 || st.Busy != 0 || st.Size != 3 {
		t.Errorf("stats = %+v, want at most 3 instances for 400 events", st)
	}
}

func TestWaitForInstanceHonoursContext(t *testing.T) {
	e, _ := newEngine(t, func(c *sandbox.Config) { c.PoolSize = 1 })
	a := load(t, e, fixture(t, "loop", nil, host.Limits{EventTimeoutMS: 300}))
	started := make(chan struct{})
	done := make(chan error)
	go func() {
		close(started)
		_, err := a.Dispatch(context.Background(), event(nil))
		done <- err
	}()
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// Either the pool is busy (context error) or this event got the
	// instance first and loops to its deadline; both are typed.
	_, err := a.Dispatch(ctx, event(nil))
	var le *sandbox.LimitError
	if !errors.Is(err, context.Canceled) && !errors.As(err, &le) {
		t.Errorf("err = %v", err)
	}
	if err := <-done; !errors.As(err, &le) && !errors.Is(err, context.Canceled) {
		t.Errorf("looping event: %v", err)
	}
}

func TestCacheDir(t *testing.T) {
	dir := t.TempDir()
	wasm := fixture(t, "echo", chat, host.Limits{})
	for round := range 2 {
		e, err := sandbox.New(context.Background(), sandbox.Config{CacheDir: dir, Funcs: []host.Func{chatSend()}})
		if err != nil {
			t.Fatal(err)
		}
		a, err := e.Load(context.Background(), host.AppRef{Merchant: "m"}, wasm)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Dispatch(context.Background(), event(nil)); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if err := e.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		entries, err := os.ReadDir(dir)
		if err != nil || len(entries) == 0 {
			t.Fatalf("cache dir after round %d: %v entries, err %v", round, len(entries), err)
		}
	}
}

func TestNewRejectsBadFuncs(t *testing.T) {
	h := chatSend().Handle
	tests := []struct {
		name  string
		funcs []host.Func
	}{
		{"duplicate", []host.Func{chatSend(), chatSend()}},
		{"builtin name", []host.Func{{Op: "log", Handle: h}}},
		{"no handler", []host.Func{{Op: "chat.send"}}},
		{"no op", []host.Func{{Handle: h}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if e, err := sandbox.New(context.Background(), sandbox.Config{Funcs: tt.funcs}); err == nil {
				_ = e.Close(context.Background())
				t.Fatal("New accepted bad funcs")
			}
		})
	}
}

func TestHandlerSeesCaller(t *testing.T) {
	var got host.Call
	rec := host.Func{Op: "chat.send", Permission: host.PermChat,
		Handle: func(ctx context.Context, c *host.Call, req []byte) ([]byte, error) {
			got = *c
			got.Caller.Permissions = slices.Clone(c.Caller.Permissions)
			return []byte(`{}`), nil
		}}
	e, _ := newEngine(t, func(c *sandbox.Config) { c.Funcs = []host.Func{rec} })
	a := load(t, e, fixture(t, "echo", chat, host.Limits{}))
	ev := &sandbox.Event{Payload: []byte(payload), Caller: host.Caller{
		App: host.AppRef{App: "forged"}, Permissions: []host.Permission{host.PermPay},
		Person: "p1", Conversation: "c1", Surface: "web", EventID: "e1"}}
	if _, err := a.Dispatch(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	c := got.Caller
	if c.App != a.Ref() || !slices.Equal(c.Permissions, chat) || c.Person != "p1" || c.Conversation != "c1" || c.Surface != "web" || c.EventID != "e1" {
		t.Errorf("handler saw caller %+v", c)
	}
	if got.Out == nil || got.Log == nil || got.Now.IsZero() {
		t.Errorf("handler saw call %+v", got)
	}
}

func TestHandlerPanicIsInternal(t *testing.T) {
	boom := host.Func{Op: "chat.send", Permission: host.PermChat,
		Handle: func(context.Context, *host.Call, []byte) ([]byte, error) { panic("bug") }}
	e, logs := newEngine(t, func(c *sandbox.Config) { c.Funcs = []host.Func{boom} })
	a := load(t, e, fixture(t, "echo", chat, host.Limits{}))
	_, err := a.Dispatch(context.Background(), event(nil))
	var ge *sandbox.GuestError
	if !errors.As(err, &ge) || ge.Status != uint32(host.StatusInternal) {
		t.Fatalf("err = %v, want the guest to see status internal", err)
	}
	if l := logs.find("log"); len(l) != 1 || !strings.Contains(l[0].Message, `"code":"internal"`) {
		t.Errorf("guest log = %+v", l)
	}
	if st := a.Stats(); st.Discarded != 0 {
		t.Errorf("a host bug discarded the instance: %+v", st)
	}
}

func TestLogLines(t *testing.T) {
	e, logs := newEngine(t, nil)
	a := load(t, e, fixture(t, "logs", nil, host.Limits{}))
	if _, err := a.Dispatch(context.Background(), event(nil)); err != nil {
		t.Fatal(err)
	}
	l := logs.find("log")
	if len(l) != 2 || l[0].Message != "bad \uFFFD byte" || l[0].Level != slog.LevelError || l[1].Message != "" || l[1].Level != slog.LevelDebug {
		t.Errorf("log = %+v", l)
	}
}

func TestCloseStopsRunningEvent(t *testing.T) {
	e, _ := newEngine(t, nil)
	a := load(t, e, fixture(t, "loop", nil, host.Limits{EventTimeoutMS: 60000}))
	done := make(chan error, 1)
	go func() {
		_, err := a.Dispatch(context.Background(), event(nil))
		done <- err
	}()
	for a.Stats().Busy == 0 {
		runtime.Gosched()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := e.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, sandbox.ErrClosed) {
		t.Errorf("running event got %v, want ErrClosed", err)
	}
}
