package main

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"go/format"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"text/template"
	"unicode"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/sdk/goproxy"
)

var cmdAppNew = command{"app new", "start a mini-app in a new directory, ready to test, run and build: DIR [--lang go|c]", runAppNew}

// newAppTemplates holds one directory of templates per language under
// newapp/; every file becomes a file of the new app, without ".tmpl".
//
//go:embed newapp
var newAppTemplates embed.FS

// appLangs are the languages app new writes: each has a directory under
// newapp/ and prepares the template data and, once the files are written,
// what its toolchain needs.
var appLangs = map[string]appLang{
	"go": {prepare: prepareGoApp, finish: finishGoApp, next: []string{
		"go test ./...                   # the tests, on the in-memory host",
		"passerelle dev .                # talk to it in the terminal",
		"passerelle app build . -o {id}.wasm",
	}},
	"c": {prepare: prepareCApp, finish: finishCApp, next: []string{
		"sh test.sh                      # the tests: tests/*.session through passerelle dev",
		"passerelle dev .                # talk to it in the terminal",
		"passerelle app build . -o {id}.wasm",
	}},
}

type appLang struct {
	prepare func(d *newApp) error
	finish  func(ctx context.Context, d *newApp, stdout, stderr io.Writer) error
	next    []string // what to run in the new directory; {id} is the app's id
}

// newApp is what the templates are filled with.
type newApp struct {
	Dir  string // where the app is written
	ID   string // the manifest's id
	Name string // the manifest's name
	Pad  string // spaces as wide as "ID> ", dev's indent for an answer's next lines

	// Go
	Module     string // the app's module path
	GoVersion  string // the go line of its go.mod: the SDK's
	SDKPath    string // the SDK's module path
	SDKVersion string // the version required
	SDKDir     string // a local SDK the go.mod replaces the module with, or ""
	Proxy      string // the module proxy directory holding the carried SDK, or ""
	sdk        *goproxy.Module
}

func runAppNew(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("passerelle app new", flag.ContinueOnError)
	fs.SetOutput(stderr)
	lang := fs.String("lang", "go", "the app's language: "+strings.Join(langNames(), ", "))
	id := fs.String("id", "", "the app's id in manifest.json (default: from the directory's name)")
	name := fs.String("name", "", "the app's name, shown to people (default: from the id)")
	module := fs.String("module", "", "Go: the app's module path (default: the id)")
	sdkDir := fs.String("sdk", "", "Go: use the SDK in this directory (a passerelle checkout's sdk/go) through a replace, instead of the one this binary carries")
	proxy := fs.String("proxy", "", "Go: where to write the carried SDK as a module proxy (default: passerelle/goproxy in the user's cache directory)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: passerelle app new [--lang go|c] [--id ID] [--name NAME] DIR")
		fmt.Fprintln(stderr, "Writes a ready mini-app in DIR, which must not exist or be empty: manifest.json, a handler,")
		fmt.Fprintln(stderr, "a test and a README. Needs no network: a Go app gets the SDK this binary carries, through a")
		fmt.Fprintln(stderr, "local module proxy, and is tested on the SDK's in-memory host (go test); a C app is built with")
		fmt.Fprintln(stderr, "the C SDK this binary carries (clang and lld) and tested by sessions run through passerelle dev")
		fmt.Fprintln(stderr, "(sh test.sh).")
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"give exactly one new directory, e.g. passerelle app new ./hello"}
	}
	l, ok := appLangs[*lang]
	if !ok {
		return usageError{fmt.Sprintf("no language %q; app new writes: %s", *lang, strings.Join(langNames(), ", "))}
	}
	dir, err := filepath.Abs(pos[0])
	if err != nil {
		return err
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("%s exists and is not empty: give a new directory", pos[0])
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	d := &newApp{Dir: dir, ID: *id, Name: *name, Module: *module, SDKDir: *sdkDir, Proxy: *proxy}
	if d.ID == "" {
		d.ID = appIDFrom(filepath.Base(dir))
	}
	d.Pad = strings.Repeat(" ", len(d.ID)+len("> "))
	if d.Name == "" {
		d.Name = appNameFrom(d.ID)
	}
	if err := (&host.Manifest{ABI: "passerelle_v1", ID: d.ID, Name: d.Name, Version: "0.1.0"}).Validate(); err != nil {
		return usageError{fmt.Sprintf("%v (choose them with --id and --name)", err)}
	}
	if err := l.prepare(d); err != nil {
		return err
	}
	if err := writeAppFiles(d, *lang); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: app %q (%s), %s\n", pos[0], d.ID, d.Name, *lang)
	if err := l.finish(ctx, d, stdout, stderr); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nNext:\n  cd %s\n", pos[0])
	for _, step := range l.next {
		fmt.Fprintln(stdout, "  "+strings.ReplaceAll(step, "{id}", d.ID))
	}
	return nil
}

func langNames() []string {
	var names []string
	for n := range appLangs {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// appIDFrom makes an app id out of a directory name: lowercase letters,
// digits and '-'.
func appIDFrom(base string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(base) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	return strings.Trim(b.String(), "-")
}

// appNameFrom makes a name out of an id: "lunch-box" is "Lunch Box".
func appNameFrom(id string) string {
	words := strings.Split(id, "-")
	for i, w := range words {
		r := []rune(w)
		if len(r) > 0 {
			r[0] = unicode.ToUpper(r[0])
		}
		words[i] = string(r)
	}
	return strings.Join(words, " ")
}

// writeAppFiles fills lang's templates with d into d.Dir.
func writeAppFiles(d *newApp, lang string) error {
	root := path.Join("newapp", lang)
	funcs := template.FuncMap{"json": func(s string) (string, error) {
		b, err := json.Marshal(s)
		return string(b), err
	}, "cstr": cString}
	return fs.WalkDir(newAppTemplates, root, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		src, err := newAppTemplates.ReadFile(p)
		if err != nil {
			return err
		}
		t, err := template.New(p).Funcs(funcs).Option("missingkey=error").Parse(string(src))
		if err != nil {
			return err
		}
		var out bytes.Buffer
		if err := t.Execute(&out, d); err != nil {
			return err
		}
		rel := strings.TrimSuffix(strings.TrimPrefix(p, root+"/"), ".tmpl")
		body := out.Bytes()
		if strings.HasSuffix(rel, ".go") {
			if body, err = format.Source(body); err != nil {
				return fmt.Errorf("template %s: %w", p, err)
			}
		}
		dst := filepath.Join(d.Dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		if strings.HasSuffix(rel, ".sh") {
			mode = 0o755
		}
		return os.WriteFile(dst, body, mode)
	})
}

// cString quotes s as a C string literal: quotes, backslashes and control
// bytes escaped (in octal, which ends after three digits, where \x would
// run on into a following hex digit), UTF-8 kept as it is.
func cString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, "\\%03o", c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// prepareGoApp picks the SDK: a local one (--sdk), or the one the binary
// carries, written as a module proxy.
func prepareGoApp(d *newApp) error {
	d.SDKPath = goproxy.Path
	if d.Module == "" {
		d.Module = d.ID
	}
	if strings.ContainsFunc(d.Module, func(r rune) bool { return unicode.IsSpace(r) || strings.ContainsRune("\"'`\\", r) }) {
		return usageError{fmt.Sprintf("--module %q is not a module path; use one like example.com/%s", d.Module, d.ID)}
	}
	if d.SDKDir != "" {
		abs, err := filepath.Abs(d.SDKDir)
		if err != nil {
			return err
		}
		gomod, err := os.ReadFile(filepath.Join(abs, "go.mod"))
		if err != nil {
			return fmt.Errorf("--sdk %s: %w; give the SDK's directory, e.g. a passerelle checkout's sdk/go", d.SDKDir, err)
		}
		if !bytes.HasPrefix(gomod, []byte("module "+goproxy.Path+"\n")) {
			return fmt.Errorf("--sdk %s: its go.mod is not module %s", d.SDKDir, goproxy.Path)
		}
		d.SDKDir, d.SDKVersion, d.GoVersion = abs, "v0.0.0", goLine(gomod)
		return nil
	}
	m, err := goproxy.Carried()
	if err != nil {
		return err
	}
	if d.Proxy == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			return fmt.Errorf("no user cache directory for the SDK's module proxy (%w): pass --proxy DIR", err)
		}
		d.Proxy = filepath.Join(cache, "passerelle", "goproxy")
	}
	if d.Proxy, err = filepath.Abs(d.Proxy); err != nil {
		return err
	}
	if err := m.WriteProxy(d.Proxy, writeFileAtomic); err != nil {
		return fmt.Errorf("write the SDK's module proxy in %s: %w", d.Proxy, err)
	}
	d.sdk, d.SDKVersion, d.GoVersion = m, m.Version, goLine(m.GoMod)
	return nil
}

// goLine returns the version on the go line of a go.mod.
func goLine(gomod []byte) string {
	for line := range strings.Lines(string(gomod)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "go "); ok {
			return v
		}
	}
	return "1.24"
}

// prepareCApp has nothing to prepare: the C SDK is carried in the binary
// and app build writes it beside the sources each time.
func prepareCApp(d *newApp) error {
	if d.Module != "" || d.SDKDir != "" || d.Proxy != "" {
		return usageError{"--module, --sdk and --proxy are for Go apps; a C app builds with the SDK this binary carries"}
	}
	return nil
}

// finishCApp says what is missing when clang or lld is not installed: the
// app is written, but neither app build nor test.sh can run yet.
func finishCApp(_ context.Context, d *newApp, stdout, _ io.Writer) error {
	var missing []string
	for _, tool := range []string{"clang", "wasm-ld"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		fmt.Fprintf(stdout, "%s not on PATH: to build the app, install clang and lld 14 or later (Debian: apt-get install clang lld)\n", strings.Join(missing, " and "))
	}
	return nil
}

// finishGoApp writes go.sum for the carried SDK and puts the SDK in the
// module cache from the proxy, so that go test, app build and dev work
// offline from then on.
func finishGoApp(ctx context.Context, d *newApp, stdout, stderr io.Writer) error {
	if d.sdk == nil {
		return nil // --sdk: the replace needs neither go.sum lines nor a download
	}
	if err := os.WriteFile(filepath.Join(d.Dir, "go.sum"), []byte(d.sdk.GoSum()), 0o644); err != nil {
		return err
	}
	fetch := "GOPROXY=file://" + d.Proxy + " go mod download"
	goBin, err := exec.LookPath("go")
	if err != nil {
		fmt.Fprintf(stdout, "Go is not on PATH: once it is, run in %s\n  %s\n", d.Dir, fetch)
		return nil
	}
	cmd := exec.CommandContext(ctx, goBin, "mod", "download", goproxy.Path)
	cmd.Dir = d.Dir
	cmd.Env = append(os.Environ(), "GOPROXY=file://"+d.Proxy, "GOWORK=off")
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("put the SDK in the module cache (%v): fix the error above and run in %s\n  %s", err, d.Dir, fetch)
	}
	fmt.Fprintf(stdout, "SDK %s@%s in the module cache, from %s\n", goproxy.Path, d.SDKVersion, d.Proxy)
	return nil
}
