package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/passerelle/passerelle/sdk/goproxy"
)

// TestAppNewOutsideTheRepository is a merchant's first hour, with no network
// and no checkout of this repository: app new in a temporary directory, then
// go test, app build, app check and dev there, with an empty module cache
// that only app new fills (from the SDK the binary carries) and GOPROXY=off.
func TestAppNewOutsideTheRepository(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the Go toolchain on a new app")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go on PATH")
	}
	useTestCompileCache(t)
	tmp := t.TempDir()
	t.Chdir(tmp)
	t.Setenv("GOMODCACHE", filepath.Join(tmp, "modcache"))
	t.Setenv("GOFLAGS", "-mod=mod -modcacherw") // -modcacherw: the test can remove the module cache
	t.Setenv("GOPROXY", "off")
	t.Setenv("GOWORK", "off")
	t.Setenv("GONOSUMDB", "")
	t.Setenv("GOSUMDB", "sum.golang.org") // never reached: go.sum must carry the SDK's hashes
	ctx := context.Background()

	var stdout, stderr bytes.Buffer
	if err := runAppNew(ctx, []string{"lunch-box", "--proxy", filepath.Join(tmp, "proxy")}, &stdout, &stderr); err != nil {
		t.Fatalf("app new: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "passerelle app build . -o lunch-box.wasm") {
		t.Errorf("app new did not say what to do next:\n%s", stdout.String())
	}
	dir := filepath.Join(tmp, "lunch-box")
	for _, f := range []string{"go.mod", "go.sum", "manifest.json", "main.go", "app.go", "app_test.go", "README.md"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("app new wrote no %s", f)
		}
	}
	goCmd := func(env []string, args ...string) string {
		t.Helper()
		cmd := exec.Command(goBin, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}

	m, err := goproxy.Carried()
	if err != nil {
		t.Fatal(err)
	}
	t.Run("the app requires the SDK and nothing else", func(t *testing.T) {
		want := "lunch-box\n" + goproxy.Path + " " + m.Version + "\n"
		if got := goCmd(nil, "list", "-m", "all"); got != want {
			t.Fatalf("go list -m all:\n%s\nwant:\n%s", got, want)
		}
		deps := goCmd([]string{"GOOS=wasip1", "GOARCH=wasm"}, "list", "-deps", "-test", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "./...")
		for _, p := range strings.Fields(deps) { // test variants read "p [lunch-box.test]"
			p = strings.Trim(p, "[]")
			if p != "lunch-box" && p != "lunch-box.test" && !strings.HasPrefix(p, goproxy.Path) {
				t.Errorf("the app depends on %s", p)
			}
		}
		goCmd(nil, "mod", "verify")
	})
	t.Run("go vet and go test", func(t *testing.T) {
		goCmd(nil, "vet", "./...")
		goCmd([]string{"GOOS=wasip1", "GOARCH=wasm"}, "vet", "./...")
		out := goCmd(nil, "test", "-count=1", "-v", "./...")
		for _, name := range []string{"TestOpenShowsTheCard", "TestMessagesAreCounted/count_button", "TestStorageRefused"} {
			if !strings.Contains(out, "--- PASS: "+name) {
				t.Errorf("%s did not pass:\n%s", name, out)
			}
		}
	})
	wasm := filepath.Join(tmp, "lunch-box.wasm")
	t.Run("app build and app check", func(t *testing.T) {
		var out, errOut bytes.Buffer
		if err := runAppBuild(ctx, []string{"lunch-box"}, &out, &errOut); err != nil {
			t.Fatalf("app build: %v\n%s", err, errOut.String())
		}
		out.Reset()
		if err := runAppCheck(ctx, []string{wasm}, &out, &errOut); err != nil {
			t.Fatalf("app check: %v\n%s", err, out.String())
		}
		if !strings.Contains(out.String(), "lunch-box 0.1.0 (Lunch Box)") || !strings.Contains(out.String(), "permissions: chat, storage") {
			t.Fatalf("app check:\n%s", out.String())
		}
	})
	t.Run("dev", func(t *testing.T) {
		var out, errOut bytes.Buffer
		if err := devSession(ctx, []string{"lunch-box"}, strings.NewReader("hi\n/2\n"), &out, &errOut); err != nil {
			t.Fatalf("dev: %v\n%s", err, errOut.String())
		}
		for _, want := range []string{"[Lunch Box]", "You said: hi (message 1)", "You have sent 1 message(s)."} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("dev printed no %q:\n%s", want, out.String())
			}
		}
	})
}

func TestAppNewRefuses(t *testing.T) {
	tmp := t.TempDir()
	full := filepath.Join(tmp, "full")
	if err := os.MkdirAll(full, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(full, "keep.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no directory", nil, "give exactly one new directory"},
		{"a directory that holds files", []string{full}, "exists and is not empty"},
		{"unknown language", []string{filepath.Join(tmp, "a"), "--lang", "cobol"}, `no language "cobol"; app new writes: c, go`},
		{"a Go flag for a C app", []string{filepath.Join(tmp, "ee"), "--lang", "c", "--module", "example.com/ee"}, "--module, --sdk and --proxy are for Go apps"},
		{"bad id", []string{filepath.Join(tmp, "b"), "--id", "X"}, "is not an app id"},
		{"no id from the name", []string{filepath.Join(tmp, "__")}, "choose them with --id"},
		{"bad module path", []string{filepath.Join(tmp, "dd"), "--module", "my app"}, `--module "my app" is not a module path`},
		{"--sdk without an SDK", []string{filepath.Join(tmp, "cc"), "--sdk", tmp}, "give the SDK's directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := runAppNew(context.Background(), tt.args, &out, &errOut)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one saying %q", err, tt.want)
			}
		})
	}
	if b, err := os.ReadFile(filepath.Join(full, "keep.txt")); err != nil || string(b) != "mine" {
		t.Fatalf("app new touched a directory it refused: %q, %v", b, err)
	}
}

// TestAppNewWithoutGo: without the go command, app new still writes the app
// and the proxy, and says what to run once Go is installed.
func TestAppNewWithoutGo(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("PATH", t.TempDir())
	var out, errOut bytes.Buffer
	proxy := filepath.Join(tmp, "proxy")
	if err := runAppNew(context.Background(), []string{filepath.Join(tmp, "hello"), "--proxy", proxy}, &out, &errOut); err != nil {
		t.Fatalf("app new: %v\n%s", err, errOut.String())
	}
	if want := "GOPROXY=file://" + proxy + " go mod download"; !strings.Contains(out.String(), want) {
		t.Fatalf("app new did not say %q:\n%s", want, out.String())
	}
	m, err := goproxy.Carried()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"list", m.Version + ".info", m.Version + ".mod", m.Version + ".zip"} {
		if _, err := os.Stat(filepath.Join(proxy, filepath.FromSlash(goproxy.Path), "@v", f)); err != nil {
			t.Errorf("the proxy has no %s: %v", f, err)
		}
	}
	sum, err := os.ReadFile(filepath.Join(tmp, "hello", "go.sum"))
	if want := m.GoSum(); err != nil || string(sum) != want {
		t.Fatalf("go.sum %q (%v), want %q", sum, err, want)
	}
}

// TestAppNewLocalSDK: --sdk points the app at an SDK checkout through a
// replace, as an SDK developer wants.
func TestAppNewLocalSDK(t *testing.T) {
	sdk, err := filepath.Abs("../../sdk/go")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "parrot")
	var out, errOut bytes.Buffer
	if err := runAppNew(context.Background(), []string{dir, "--sdk", "../../sdk/go", "--module", "example.com/parrot"}, &out, &errOut); err != nil {
		t.Fatalf("app new: %v\n%s", err, errOut.String())
	}
	gomod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	want := "module example.com/parrot\n\ngo 1.24\n\nrequire " + goproxy.Path + " v0.0.0\n\nreplace " + goproxy.Path + " => " + sdk + "\n"
	if string(gomod) != want {
		t.Fatalf("go.mod:\n%s\nwant:\n%s", gomod, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "go.sum")); err == nil {
		t.Fatal("a go.sum for a replaced SDK")
	}
}

func TestAppIDFrom(t *testing.T) {
	tests := []struct{ dir, id, name string }{
		{"hello", "hello", "Hello"},
		{"Lunch Box", "lunch-box", "Lunch Box"},
		{"my_app.v2", "my-app-v2", "My App V2"},
		{"--x--", "x", "X"},
		{"Café", "caf", "Caf"},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			if id := appIDFrom(tt.dir); id != tt.id || appNameFrom(id) != tt.name {
				t.Fatalf("appIDFrom(%q) = %q, name %q; want %q, %q", tt.dir, id, appNameFrom(id), tt.id, tt.name)
			}
		})
	}
}
