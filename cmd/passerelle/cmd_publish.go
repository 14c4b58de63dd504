package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// The merchant's publishing commands: thin clients of the /v1 API
// (gateway/api/API.md).

var (
	cmdAppUpload   = command{"app upload", "upload a built module as a new version (FILE.wasm)", runAppUpload}
	cmdAppList     = command{"app list", "list your apps and their live versions", runAppList}
	cmdAppVersions = command{"app versions", "list the versions of an app (APP)", runAppVersions}
	cmdAppPromote  = command{"app promote", "roll a version out: APP VERSION [--percent N] [--replay-last N --accept op,...]", runAppPromote}
	cmdAppRollback = command{"app rollback", "drop the gray release or go back: APP [VERSION]", runAppRollback}
	cmdAppLogs     = command{"app logs", "print an app's log: APP [--follow]", runAppLogs}
	cmdAppStats    = command{"app stats", "print an app's figures per version (APP)", runAppStats}
)

// apiClient talks to the merchant API.
type apiClient struct {
	server string
	token  string
	http   *http.Client
}

// publishFlags parses the flags every publishing command shares, plus the
// command's own, allowing flags before and after the positional arguments.
func publishFlags(name string, args []string, stderr io.Writer, extra func(fs *flag.FlagSet)) (*apiClient, []string, error) {
	fs := flag.NewFlagSet("passerelle "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("server", envOr("PASSERELLE_SERVER", "http://localhost:8080"), "server URL (env PASSERELLE_SERVER)")
	token := fs.String("token", os.Getenv("PASSERELLE_TOKEN"), "merchant token (env PASSERELLE_TOKEN)")
	if extra != nil {
		extra(fs)
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, nil, err
			}
			return nil, nil, usageError{err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if *token == "" {
		return nil, nil, usageError{"no token: pass --token or set PASSERELLE_TOKEN to your merchant token"}
	}
	u, err := url.Parse(*server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, nil, usageError{fmt.Sprintf("--server %q is not an http(s) URL", *server)}
	}
	return &apiClient{server: strings.TrimRight(*server, "/"), token: *token, http: &http.Client{}}, pos, nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func wantArgs(pos []string, min, max int, usage string) error {
	if len(pos) < min || len(pos) > max {
		return usageError{"usage: passerelle " + usage}
	}
	return nil
}

// apiError is an error answered by the server.
type apiError struct {
	Status     int
	Code       string `json:"code"`
	Message    string `json:"message"`
	Violations []struct {
		Rule, Where, Problem, Fix string
	} `json:"violations"`
	Report json.RawMessage `json:"report"` // replay_refused: the replay report (cmd_replay.go)
}

func (e *apiError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s", e.Code, e.Message)
	for _, v := range e.Violations {
		fmt.Fprintf(&b, "\n  [%s] %s: %s; fix: %s", v.Rule, v.Where, v.Problem, v.Fix)
	}
	return b.String()
}

// do sends a request and returns the response when it succeeded; the
// caller closes its body. A failure becomes an *apiError.
func (c *apiClient) do(ctx context.Context, method, path, contentType string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.server+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach %s: %w; check --server or PASSERELLE_SERVER", c.server, err)
	}
	if resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var wrap struct {
		Error *apiError `json:"error"`
	}
	if json.Unmarshal(data, &wrap) != nil || wrap.Error == nil || wrap.Error.Code == "" {
		return nil, fmt.Errorf("server answered %s: %s", resp.Status, strings.TrimSpace(string(data)))
	}
	wrap.Error.Status = resp.StatusCode
	return nil, wrap.Error
}

// call sends a JSON request (in may be nil) and decodes the JSON answer into out.
func (c *apiClient) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	ct := ""
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body, ct = bytes.NewReader(data), "application/json"
	}
	resp, err := c.do(ctx, method, path, ct, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("unexpected answer from the server: %w", err)
	}
	return nil
}

// Views of the API's objects, as far as the commands print them.
type appView struct {
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	Live      string   `json:"live"`
	Candidate string   `json:"candidate"`
	Percent   int      `json:"percent"`
	History   []string `json:"history"`
	Versions  []string `json:"versions"`
}

type versionView struct {
	Version    string    `json:"version"`
	SHA256     string    `json:"sha256"`
	Size       int64     `json:"size"`
	UploadedAt time.Time `json:"uploaded_at"`
	UploadedBy string    `json:"uploaded_by"`
	Pruned     bool      `json:"pruned"`
	Live       bool      `json:"live"`
	Candidate  bool      `json:"candidate"`
	Percent    int       `json:"percent"`
	Manifest   struct {
		Permissions []string `json:"permissions"`
	} `json:"manifest"`
}

func (v versionView) state() string {
	switch {
	case v.Live:
		return fmt.Sprintf("live %d%%", v.Percent)
	case v.Candidate:
		return fmt.Sprintf("candidate %d%%", v.Percent)
	case v.Pruned:
		return "pruned"
	}
	return "-"
}

func printApp(w io.Writer, a appView) {
	fmt.Fprintf(w, "%s: live %s", a.ID, orDash(a.Live))
	if a.Candidate != "" {
		fmt.Fprintf(w, ", candidate %s at %d%%", a.Candidate, a.Percent)
	}
	fmt.Fprintln(w)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func runAppUpload(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, pos, err := publishFlags("app upload", args, stderr, nil)
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 1, 1, "app upload FILE.wasm [--server URL] [--token T]"); err != nil {
		return err
	}
	f, err := os.Open(pos[0])
	if err != nil {
		return err
	}
	defer f.Close()
	// The app id is in the module's manifest; read just enough to find it
	// so that the URL names it.
	id, err := moduleAppID(f)
	if err != nil {
		return fmt.Errorf("%s: %w", pos[0], err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	resp, err := c.do(ctx, http.MethodPost, "/v1/apps/"+url.PathEscape(id)+"/versions", "application/wasm", f)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var out struct {
		Version versionView `json:"version"`
		App     appView     `json:"app"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return fmt.Errorf("unexpected answer from the server: %w", err)
	}
	fmt.Fprintf(stdout, "uploaded %s %s (%d bytes, sha256 %s)\n", id, out.Version.Version, out.Version.Size, out.Version.SHA256)
	printApp(stdout, out.App)
	if !out.Version.Live {
		fmt.Fprintf(stdout, "roll it out with: passerelle app promote %s %s --percent 10\n", id, out.Version.Version)
	}
	return nil
}

// moduleAppID finds the app id in the module's passerelle.manifest custom
// section, reading sections one by one without loading the code.
func moduleAppID(r io.Reader) (string, error) {
	br := bufio.NewReader(r)
	var hdr [8]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil || string(hdr[:4]) != "\x00asm" {
		return "", errors.New("not a WebAssembly module; build it with 'passerelle app build'")
	}
	for {
		id, err := br.ReadByte()
		if err == io.EOF {
			return "", errors.New("no passerelle.manifest section; build the module with 'passerelle app build'")
		}
		if err != nil {
			return "", err
		}
		size, err := readULEB(br)
		if err != nil {
			return "", fmt.Errorf("malformed module: %w", err)
		}
		if id != 0 || size > 1<<20 {
			if _, err := br.Discard(int(size)); err != nil {
				return "", fmt.Errorf("malformed module: %w", err)
			}
			continue
		}
		body := make([]byte, size)
		if _, err := io.ReadFull(br, body); err != nil {
			return "", fmt.Errorf("malformed module: %w", err)
		}
		nameLen, n := decodeULEB(body)
		if n == 0 || uint64(n)+nameLen > uint64(len(body)) {
			return "", errors.New("malformed module: bad custom section name")
		}
		if string(body[n:n+int(nameLen)]) != "passerelle.manifest" {
			continue
		}
		var m struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(body[n+int(nameLen):], &m); err != nil || m.ID == "" {
			return "", errors.New("the passerelle.manifest section has no app id; rebuild with 'passerelle app build'")
		}
		return m.ID, nil
	}
}

func readULEB(br *bufio.Reader) (uint64, error) {
	var v uint64
	for shift := 0; shift < 35; shift += 7 {
		b, err := br.ReadByte()
		if err != nil {
			return 0, err
		}
		v |= uint64(b&0x7f) << shift
		if b&0x80 == 0 {
			return v, nil
		}
	}
	return 0, errors.New("LEB128 too long")
}

func decodeULEB(b []byte) (uint64, int) {
	var v uint64
	for i := 0; i < len(b) && i < 5; i++ {
		v |= uint64(b[i]&0x7f) << (7 * i)
		if b[i]&0x80 == 0 {
			return v, i + 1
		}
	}
	return 0, 0
}

func runAppList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, pos, err := publishFlags("app list", args, stderr, nil)
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 0, 0, "app list"); err != nil {
		return err
	}
	var out struct {
		Apps []appView `json:"apps"`
	}
	if err := c.call(ctx, http.MethodGet, "/v1/apps", nil, &out); err != nil {
		return err
	}
	if len(out.Apps) == 0 {
		fmt.Fprintln(stdout, "no apps yet; upload one with: passerelle app upload FILE.wasm")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "APP\tNAME\tLIVE\tCANDIDATE\tVERSIONS")
	for _, a := range out.Apps {
		cand := "-"
		if a.Candidate != "" {
			cand = fmt.Sprintf("%s (%d%%)", a.Candidate, a.Percent)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", a.ID, a.Name, orDash(a.Live), cand, len(a.Versions))
	}
	return tw.Flush()
}

func runAppVersions(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, pos, err := publishFlags("app versions", args, stderr, nil)
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 1, 1, "app versions APP"); err != nil {
		return err
	}
	var out struct {
		Versions []versionView `json:"versions"`
	}
	if err := c.call(ctx, http.MethodGet, "/v1/apps/"+url.PathEscape(pos[0])+"/versions", nil, &out); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tSTATE\tSIZE\tUPLOADED\tSHA256\tPERMISSIONS")
	for _, v := range out.Versions {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%.12s\t%s\n", v.Version, v.state(), v.Size,
			v.UploadedAt.Local().Format("2006-01-02 15:04"), v.SHA256, strings.Join(v.Manifest.Permissions, ","))
	}
	return tw.Flush()
}

func runAppPromote(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var percent, replayLast *int
	var accept *string
	c, pos, err := publishFlags("app promote", args, stderr, func(fs *flag.FlagSet) {
		percent = fs.Int("percent", 100, "share of people who get the version: 1..99 for a gray release, 100 to make it live")
		replayLast = fs.Int("replay-last", 0, "first replay the last N recorded events against the version; refuse if one traps or diverges")
		accept = fs.String("accept", "", "with --replay-last: operations whose differences are accepted, comma-separated")
	})
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 2, 2, "app promote APP VERSION [--percent N]"); err != nil {
		return err
	}
	var out struct {
		App appView `json:"app"`
	}
	req := map[string]any{"version": pos[1], "percent": *percent}
	if *replayLast != 0 {
		req["replay_last"], req["accept"] = *replayLast, splitOps(*accept)
	}
	if err := c.call(ctx, http.MethodPost, "/v1/apps/"+url.PathEscape(pos[0])+"/promote", req, &out); err != nil {
		printRefusal(stdout, err)
		return err
	}
	printApp(stdout, out.App)
	return nil
}

func runAppRollback(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, pos, err := publishFlags("app rollback", args, stderr, nil)
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 1, 2, "app rollback APP [VERSION]"); err != nil {
		return err
	}
	req := map[string]string{}
	if len(pos) == 2 {
		req["version"] = pos[1]
	}
	var out struct {
		App appView `json:"app"`
	}
	if err := c.call(ctx, http.MethodPost, "/v1/apps/"+url.PathEscape(pos[0])+"/rollback", req, &out); err != nil {
		return err
	}
	printApp(stdout, out.App)
	return nil
}

type logLine struct {
	Seq     uint64    `json:"seq"`
	Time    time.Time `json:"time"`
	Version string    `json:"version"`
	Level   string    `json:"level"`
	Source  string    `json:"source"`
	Message string    `json:"message"`
	EventID string    `json:"event_id"`
	Event   string    `json:"event"`
	Kind    string    `json:"kind"`
}

func runAppLogs(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var follow *bool
	var limit *int
	c, pos, err := publishFlags("app logs", args, stderr, func(fs *flag.FlagSet) {
		follow = fs.Bool("follow", false, "keep printing new records until interrupted")
		limit = fs.Int("n", 0, "print only the last N records (0: all kept)")
	})
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 1, 1, "app logs APP [--follow] [-n N]"); err != nil {
		return err
	}
	q := url.Values{}
	if *follow {
		q.Set("follow", "1")
	}
	if *limit > 0 {
		q.Set("limit", strconv.Itoa(*limit))
	}
	resp, err := c.do(ctx, http.MethodGet, "/v1/apps/"+url.PathEscape(pos[0])+"/logs?"+q.Encode(), "", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue // heartbeat
		}
		var l logLine
		if err := json.Unmarshal(line, &l); err != nil {
			fmt.Fprintf(stdout, "%s\n", line)
			continue
		}
		fmt.Fprintf(stdout, "%s %s %-5s %-7s %s", l.Time.Local().Format("2006-01-02 15:04:05.000"), l.Version, l.Level, l.Source, l.Message)
		if l.Source == "failure" {
			fmt.Fprintf(stdout, " (event %s %s, %s)", l.Event, l.EventID, l.Kind)
		}
		fmt.Fprintln(stdout)
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("log stream broken: %w", err)
	}
	return nil
}

func runAppStats(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, pos, err := publishFlags("app stats", args, stderr, nil)
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 1, 1, "app stats APP"); err != nil {
		return err
	}
	var out struct {
		Live      string `json:"live"`
		Candidate string `json:"candidate"`
		Percent   int    `json:"percent"`
		Versions  []struct {
			Version  string            `json:"version"`
			Events   uint64            `json:"events"`
			Errors   uint64            `json:"errors"`
			Failures map[string]uint64 `json:"failures"`
			P50      time.Duration     `json:"p50_ns"`
			P99      time.Duration     `json:"p99_ns"`
		} `json:"versions"`
		Messages []messageFigures `json:"messages"`
	}
	if err := c.call(ctx, http.MethodGet, "/v1/apps/"+url.PathEscape(pos[0])+"/stats", nil, &out); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tSTATE\tEVENTS\tERRORS\tP50\tP99\tFAILURES")
	for _, v := range out.Versions {
		state := "-"
		switch v.Version {
		case out.Live:
			state = fmt.Sprintf("live %d%%", 100-out.Percent)
		case out.Candidate:
			state = fmt.Sprintf("candidate %d%%", out.Percent)
		}
		var fails []string
		for k, n := range v.Failures {
			fails = append(fails, fmt.Sprintf("%s=%d", k, n))
		}
		slices.Sort(fails)
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%v\t%v\t%s\n", v.Version, state, v.Events, v.Errors, v.P50, v.P99, orDash(strings.Join(fails, " ")))
	}
	if err := tw.Flush(); err != nil || len(out.Messages) == 0 {
		return err
	}
	fmt.Fprintln(stdout)
	return printMessageFigures(stdout, out.Messages)
}

// messageFigures is one surface's line of the stats' "messages"
// (gateway/api/API.md).
type messageFigures struct {
	Surface      string            `json:"surface"`
	Sent         uint64            `json:"sent"`
	Delivered    uint64            `json:"delivered"`
	Read         uint64            `json:"read"`
	Failed       uint64            `json:"failed"`
	Failures     map[string]uint64 `json:"failures"`
	DeliveryRate float64           `json:"delivery_rate"`
	ReadRate     float64           `json:"read_rate"`
}

// printMessageFigures prints what became of an app's messages, a line
// per surface: how many reached each state, the delivery and read rates
// and the failures by code.
func printMessageFigures(w io.Writer, figs []messageFigures) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SURFACE\tSENT\tDELIVERED\tREAD\tFAILED\tDELIVERY\tREAD RATE\tFAILURES")
	for _, m := range figs {
		var fails []string
		for k, n := range m.Failures {
			fails = append(fails, fmt.Sprintf("%s=%d", k, n))
		}
		slices.Sort(fails)
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%.1f%%\t%.1f%%\t%s\n", m.Surface, m.Sent, m.Delivered, m.Read, m.Failed,
			100*m.DeliveryRate, 100*m.ReadRate, orDash(strings.Join(fails, " ")))
	}
	return tw.Flush()
}
