package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/passerelle/passerelle/runtime/apptest"
)

// TestAppNewC is a C merchant's first hour, in a temporary directory outside
// the repository with no network: app new --lang c, then app build, app
// check, and the app's own test session played through dev.
func TestAppNewC(t *testing.T) {
	apptest.NeedClang(t)
	useTestCompileCache(t)
	tmp := t.TempDir()
	t.Chdir(tmp)
	ctx := context.Background()

	var stdout, stderr bytes.Buffer
	if err := runAppNew(ctx, []string{"help-desk", "--lang", "c"}, &stdout, &stderr); err != nil {
		t.Fatalf("app new: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	for _, want := range []string{`wrote help-desk: app "help-desk" (Help Desk), c`, "sh test.sh", "passerelle app build . -o help-desk.wasm"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("app new did not say %q:\n%s", want, stdout.String())
		}
	}
	dir := filepath.Join(tmp, "help-desk")
	for _, f := range []string{"manifest.json", "app.c", "README.md", "test.sh", "tests/welcome.session"} {
		if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(f))); err != nil {
			t.Errorf("app new wrote no %s", f)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "test.sh")); err != nil || fi.Mode()&0o100 == 0 {
		t.Errorf("test.sh is not executable: %v, %v", fi, err)
	}

	t.Run("app build and app check", func(t *testing.T) {
		var out, errOut bytes.Buffer
		if err := runAppBuild(ctx, []string{"help-desk"}, &out, &errOut); err != nil {
			t.Fatalf("app build: %v\n%s", err, errOut.String())
		}
		if strings.Contains(errOut.String(), "warning") {
			t.Errorf("clang warns about the new app:\n%s", errOut.String())
		}
		out.Reset()
		if err := runAppCheck(ctx, []string{filepath.Join(tmp, "help-desk.wasm")}, &out, &errOut); err != nil {
			t.Fatalf("app check: %v\n%s", err, out.String())
		}
		for _, want := range []string{"help-desk 0.1.0 (Help Desk)", "permissions: chat, storage", "kv_get, kv_set"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("app check said no %q:\n%s", want, out.String())
			}
		}
	})
	t.Run("the test session, through dev", func(t *testing.T) {
		in, want := readSession(t, filepath.Join(dir, "tests", "welcome.session"))
		var out, errOut bytes.Buffer
		if err := devSession(ctx, []string{"-q", "help-desk"}, strings.NewReader(in), &out, &errOut); err != nil {
			t.Fatalf("dev: %v\n%s", err, errOut.String())
		}
		if got := appAnswers(out.String(), "help-desk"); got != want {
			t.Fatalf("dev printed\n%s\nthe session wants\n%s", got, want)
		}
	})
}

// readSession splits a tests/*.session file as test.sh does: what the
// person types, and what the app must answer.
func readSession(t *testing.T, path string) (in, want string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		switch {
		case strings.HasPrefix(line, "> "):
			in += strings.TrimPrefix(line, "> ")
		case line == "\n", strings.HasPrefix(line, "#"):
		default:
			want += line
		}
	}
	return in, want
}

// appAnswers is dev's output from the app's first answer on, without empty
// lines, as test.sh compares it.
func appAnswers(out, id string) string {
	i := strings.Index(out, "\n"+id+"> ")
	if i < 0 {
		return ""
	}
	var got string
	for line := range strings.Lines(out[i+1:]) {
		if line != "\n" {
			got += line
		}
	}
	return got
}

// runTestSh runs an app's test.sh with passerelle and returns its output and
// whether it passed.
func runTestSh(t *testing.T, dir, passerelle string) (string, bool) {
	t.Helper()
	cmd := exec.Command("sh", "test.sh")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PASSERELLE="+passerelle)
	out, err := cmd.CombinedOutput()
	if _, exit := err.(*exec.ExitError); err != nil && !exit {
		t.Fatalf("sh test.sh: %v", err)
	}
	return string(out), err == nil
}

func TestCString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Lunch Box", `"Lunch Box"`},
		{`Say "hi" \o/`, `"Say \"hi\" \\o/"`},
		{"a\nb\x01c\x7f", `"a\012b\001c\177"`},
		{"\x1b1", `"\0331"`}, // octal stops after three digits; \x1b1 would be one char
		{"Café 午餐", `"Café 午餐"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := cString(tt.in); got != tt.want {
				t.Fatalf("cString(%q) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}
