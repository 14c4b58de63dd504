package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestDevSession(t *testing.T) {
	useTestCompileCache(t)
	wasm := echoModule(t)
	tests := []struct {
		name  string
		input string
		want  []string // in order
		not   []string
	}{
		{
			name:  "message, buttons, menu",
			input: "hello\n/1\n/2\nmenu\n/3\n/quit\nnot sent\n",
			want: []string{
				"loaded echo 1.0.0 (Echo), permissions chat",
				// A call is traced as it is made; its message leaves once the event commits.
				`call chat.send {"card":{"title":"Echo"`, "-> ok",
				"echo> [Echo]", "/1 Say hello", "/2 Shout", "/3 Help",
				`call chat.send {"text":"echo: hello"} -> ok {"id":"msg_`, "echo> echo: hello",
				"echo> Hello, o_",
				"echo> HELLO THERE!",
				"echo> [Echo]",
				`echo> Type anything and I repeat it.`,
			},
			not: []string{"echo: not sent"},
		},
		{
			name:  "bad choices",
			input: "/7\n/x\n/open\n",
			want:  []string{"the last card has no choice 7", "unknown command /x", "/N            press button N", "echo> [Echo]"},
		},
		{
			name:  "quiet",
			input: "-q",
			want:  []string{"echo> [Echo]"},
			not:   []string{"call chat.send"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{wasm}
			input := tt.input
			if input == "-q" {
				args, input = []string{"-q", wasm}, "hi\n"
			}
			var out, errOut bytes.Buffer
			if err := devSession(context.Background(), args, strings.NewReader(input), &out, &errOut); err != nil {
				t.Fatalf("dev: %v\n%s", err, errOut.String())
			}
			got := out.String()
			rest := got
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("output lacks %q (in order):\n%s", w, got)
				}
				rest = rest[i+len(w):]
			}
			for _, n := range tt.not {
				if strings.Contains(got, n) {
					t.Errorf("output has %q:\n%s", n, got)
				}
			}
		})
	}
}

// TestDevPayment runs a module that requests a payment, confirms it at the
// host prompt and checks the app receives the payment event.
func TestDevPayment(t *testing.T) {
	useTestCompileCache(t)
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "manifest.json"), `{"abi":"passerelle_v1","id":"till","name":"Till","version":"1","permissions":["pay"]}`)
	wasm := filepath.Join(dir, "till.wasm")
	if code, out, errOut := runCLI("app", "build", "-wasm", "../../sdk/conformance/testdata/pay.wasm", "-o", wasm, dir); code != 0 {
		t.Fatalf("app build: %s%s", out, errOut)
	}
	in, inW := io.Pipe()
	out := &devOutput{}
	done := make(chan error, 1)
	go func() { done <- devSession(context.Background(), []string{wasm}, in, out, io.Discard) }()
	defer func() {
		inW.Close()
		if err := <-done; err != nil {
			t.Errorf("dev: %v", err)
		}
	}()
	pos := waitForOutput(t, out, 0, "? /confirm ")
	s := out.String()
	order := strings.Fields(s[pos:])[0]
	if !strings.Contains(s, `host> pay 1250 EUR (minor units) for "Soup"?`) {
		t.Fatalf("no payment prompt:\n%s", s)
	}
	io.WriteString(inW, "/confirm nope\n")
	pos = waitForOutput(t, out, pos, "/confirm: ")
	io.WriteString(inW, "/confirm "+order+"\n")
	pos = waitForOutput(t, out, pos, "event payment ok")
	io.WriteString(inW, "/quit\n")
}

func TestDevRejectsBadModule(t *testing.T) {
	useTestCompileCache(t)
	var out, errOut bytes.Buffer
	err := devSession(context.Background(), []string{"../../sdk/conformance/testdata/hello.wasm"}, strings.NewReader(""), &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "manifest") {
		t.Fatalf("err = %v, want a manifest error", err)
	}
}

// devOutput is a bytes.Buffer safe for the dev session and the test to share.
type devOutput struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *devOutput) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *devOutput) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitForOutput polls out until it contains want after offset from, or fails after
// a generous timeout (builds run the Go toolchain, and the first load of an
// app compiles it: minutes on a loaded machine under the race detector).
func waitForOutput(t *testing.T, out *devOutput, from int, want string) int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		s := out.String()
		if i := strings.Index(s[from:], want); i >= 0 {
			return from + i + len(want)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("output never showed %q:\n%s", want, out.String())
	return 0
}

// TestDevReload runs dev on an app directory, edits the app and checks that
// the next message is answered by the rebuilt app.
func TestDevReload(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the app twice with the Go toolchain")
	}
	useTestCompileCache(t)
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "go.mod"), "module devapp\n\ngo 1.26\n\nrequire github.com/passerelle/passerelle/sdk/go v0.0.0\n\nreplace github.com/passerelle/passerelle/sdk/go => "+filepath.Join(root, "sdk", "go")+"\n")
	writeTestFile(t, filepath.Join(dir, "manifest.json"), `{"abi":"passerelle_v1","id":"parrot","name":"Parrot","version":"1","permissions":["chat"]}`)
	app := func(reply string) string {
		return `//go:build wasip1

package main

import passerelle "github.com/passerelle/passerelle/sdk/go"

func init() {
	passerelle.Serve(passerelle.NewApp().OnMessage(func(c *passerelle.Context, ev *passerelle.Event) error {
		_, err := c.SendText("` + reply + `: " + ev.Text)
		return err
	}))
}

func main() {}
`
	}
	writeTestFile(t, filepath.Join(dir, "main.go"), app("first"))
	t.Setenv("GOFLAGS", "-mod=mod")

	in, inW := io.Pipe()
	out := &devOutput{}
	done := make(chan error, 1)
	go func() { done <- devSession(context.Background(), []string{dir}, in, out, io.Discard) }()
	defer func() {
		inW.Close()
		if err := <-done; err != nil {
			t.Errorf("dev: %v", err)
		}
	}()

	pos := waitForOutput(t, out, 0, "loaded parrot 1")
	io.WriteString(inW, "hi\n")
	pos = waitForOutput(t, out, pos, "parrot> first: hi")

	// Make sure the new modification time differs from the old one.
	time.Sleep(10 * time.Millisecond)
	writeTestFile(t, filepath.Join(dir, "main.go"), app("second"))
	pos = waitForOutput(t, out, pos, "reloaded")
	io.WriteString(inW, "hi\n")
	pos = waitForOutput(t, out, pos, "parrot> second: hi")

	writeTestFile(t, filepath.Join(dir, "main.go"), "package main\n\nthis does not compile\n")
	pos = waitForOutput(t, out, pos, "reload failed, still running the previous build")
	io.WriteString(inW, "again\n")
	waitForOutput(t, out, pos, "parrot> second: again")
	io.WriteString(inW, "/quit\n")
}

// TestDevConsentContinuesTheOrder runs the lunch app in dev: granting the
// name prompt delivers a consent event, and lunch asks for the payment by
// itself.
func TestDevConsentContinuesTheOrder(t *testing.T) {
	useTestCompileCache(t)
	inW, out := startDev(t, "../../miniapps/lunch")
	pos := waitForOutput(t, out, 0, "Lunch menu")
	for range 2 { // the first dish, its first size
		io.WriteString(inW, "/1\n")
		pos = waitForOutput(t, out, pos, "event action ok")
	}
	io.WriteString(inW, "/1\n") // no side: lunch asks for the name
	pos = waitForOutput(t, out, pos, "? /grant ")
	prompt := strings.Fields(out.String()[pos:])[0]
	io.WriteString(inW, "/grant "+prompt+"\n")
	pos = waitForOutput(t, out, pos, "? /confirm ") // asked while handling the consent event
	waitForOutput(t, out, pos, "event consent ok")
	io.WriteString(inW, "/quit\n")
}

// TestDevConsentRules runs lunch in dev with the consent rules a server
// runs: after the payment lunch asks for a one-time subscription, which
// /accept grants (the app gets the consent event); STOP is answered by
// the platform, never reaches the app, and tells it with an optout event;
// the app's answer to the next message is refused (opted_out) until START.
func TestDevConsentRules(t *testing.T) {
	useTestCompileCache(t)
	inW, out := startDev(t, "../../miniapps/lunch")
	pos := waitForOutput(t, out, 0, "Lunch menu")
	for range 3 { // the first dish, its first size, no side
		io.WriteString(inW, "/1\n")
		pos = waitForOutput(t, out, pos, "event action ok")
	}
	io.WriteString(inW, "/grant "+strings.Fields(out.String()[strings.LastIndex(out.String(), "/grant ")+len("/grant "):])[0]+"\n")
	pos = waitForOutput(t, out, pos, "? /confirm ")
	io.WriteString(inW, "/confirm "+strings.Fields(out.String()[pos:])[0]+"\n")
	pos = waitForOutput(t, out, pos, "It can send it once. /accept ")
	prompt := strings.Fields(out.String()[pos:])[0]
	if !strings.HasPrefix(prompt, "sp_") {
		t.Fatalf("subscribe prompt id %q:\n%s", prompt, out.String())
	}
	io.WriteString(inW, "/accept nope\n")
	pos = waitForOutput(t, out, pos, "/accept: no subscribe prompt nope")
	io.WriteString(inW, "/accept "+prompt+"\n")
	pos = waitForOutput(t, out, pos, "event consent ok")

	io.WriteString(inW, " stop \n")
	pos = waitForOutput(t, out, pos, "host> You will get no more messages from ")
	pos = waitForOutput(t, out, pos, "event optout ok")
	io.WriteString(inW, "hello\n")
	pos = waitForOutput(t, out, pos, "chat.send {")
	pos = waitForOutput(t, out, pos, "-> opted_out")
	io.WriteString(inW, "START\n")
	waitForOutput(t, out, pos, "event optin ok")
	io.WriteString(inW, "/quit\n")
}

// startDev runs dev on args in the background until the test ends, and
// returns its input and its output.
func startDev(t *testing.T, args ...string) (io.Writer, *devOutput) {
	t.Helper()
	in, inW := io.Pipe()
	out := &devOutput{}
	done := make(chan error, 1)
	go func() { done <- devSession(context.Background(), args, in, out, io.Discard) }()
	t.Cleanup(func() {
		inW.Close()
		if err := <-done; err != nil {
			t.Errorf("dev: %v", err)
		}
	})
	return inW, out
}

// TestDevShopPhotos runs the shop in dev: its product card names a photo
// the app ships, which dev shows at the path a server would serve it at.
func TestDevShopPhotos(t *testing.T) {
	useTestCompileCache(t)
	inW, out := startDev(t, "../../miniapps/shop")
	pos := waitForOutput(t, out, 0, "event open ok")
	io.WriteString(inW, "/1\n")
	pos = waitForOutput(t, out, pos, "(image /assets/")
	if strings.Contains(out.String(), "-> error") {
		t.Fatalf("an asset name was not resolved:\n%s", out.String())
	}
	io.WriteString(inW, "/quit\n")
}

// TestDevHandoff: in dev, once the support bot hands the conversation
// off, the person's lines are held for the staff; /take and /handback
// play the staff, and the bot hears both.
func TestDevHandoff(t *testing.T) {
	useTestCompileCache(t)
	mods, err := demoApps(context.Background(), "", []string{"support"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	wasm := filepath.Join(t.TempDir(), "support.wasm")
	if err := os.WriteFile(wasm, mods[0].Wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	in, inW := io.Pipe()
	out := &devOutput{}
	done := make(chan error, 1)
	go func() { done <- devSession(context.Background(), []string{wasm}, in, out, io.Discard) }()
	defer func() {
		inW.Close()
		if err := <-done; err != nil {
			t.Errorf("dev: %v", err)
		}
	}()
	pos := waitForOutput(t, out, 0, "Talk to a person")
	io.WriteString(inW, "/handback\n")
	pos = waitForOutput(t, out, pos, "/handback: the app has not handed this conversation off")
	io.WriteString(inW, "talk to a human\n")
	pos = waitForOutput(t, out, pos, "A person will answer here")
	io.WriteString(inW, "hello?\n")
	pos = waitForOutput(t, out, pos, "host> (handed off")
	io.WriteString(inW, "/take Sam\n")
	pos = waitForOutput(t, out, pos, "Sam from our team has joined the conversation.")
	io.WriteString(inW, "/handback sorted\n")
	pos = waitForOutput(t, out, pos, "I am back")
	io.WriteString(inW, "how do refunds work\n")
	waitForOutput(t, out, pos, "[How do refunds work?]")
	io.WriteString(inW, "/quit\n")
}
