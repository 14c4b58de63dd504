package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/passerelle/passerelle/host/identity"
)

// signInWith exchanges a sign-in link's code for a session as the inbox
// page does; it returns the HTTP status.
func signInWith(t *testing.T, base, link string) int {
	t.Helper()
	_, code, ok := strings.Cut(link, "#signin=")
	if !ok {
		t.Fatalf("no code in %q", link)
	}
	body, _ := json.Marshal(map[string]string{"code": code})
	resp, err := http.Post(base+"/v1/staff/session", "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestStaffCLI: the merchant adds a member, who signs in with the link
// printed; the list shows the session; a new link replaces the first;
// removing the member says its sessions ended; the demo's link for Sam
// works on a second start too.
func TestStaffCLI(t *testing.T) {
	ctx := context.Background()
	p := testPlatform(t)
	if _, _, err := p.svc.Identity.EnsureMerchant(ctx, "bistro", "Bistro"); err != nil {
		t.Fatal(err)
	}
	tok, err := p.svc.Identity.Issue("bistro", identity.RoleMerchant, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	flags := []string{"--server", p.url(), "--token", tok}
	cli := func(args ...string) (int, string, string) { return runCLI(append(args, flags...)...) }

	code, out, errOut := cli("staff", "list")
	if code != 0 || !strings.Contains(out, "no members of staff yet") {
		t.Fatalf("staff list, empty: exit %d:\n%s%s", code, out, errOut)
	}
	code, link, errOut := cli("staff", "add", "Alice Martin")
	link = strings.TrimSpace(link)
	if code != 0 || !strings.HasPrefix(link, p.url()+"/inbox#signin=si_") || !strings.Contains(errOut, "not shown again") {
		t.Fatalf("staff add: exit %d:\n%s%s", code, link, errOut)
	}
	id := regexp.MustCompile(`\((st_[^)]+)\)`).FindStringSubmatch(errOut)
	if id == nil {
		t.Fatalf("no member id in %q", errOut)
	}
	if code, _, errOut := cli("staff", "add", "alice martin"); code == 0 || !strings.Contains(errOut, "member_exists") {
		t.Fatalf("the same name again: exit %d: %s", code, errOut)
	}
	if st := signInWith(t, p.url(), link); st != http.StatusOK {
		t.Fatalf("signing in with the printed link: %d", st)
	}
	if code, out, errOut := cli("staff", "list"); code != 0 || !regexp.MustCompile(`Alice Martin .* 1\n`).MatchString(out) || strings.Contains(out, "never") {
		t.Fatalf("staff list after a sign-in: exit %d:\n%s%s", code, out, errOut)
	}
	code, fresh, errOut := cli("staff", "link", id[1])
	if code != 0 || strings.TrimSpace(fresh) == link {
		t.Fatalf("staff link: exit %d:\n%s%s", code, fresh, errOut)
	}
	if code, out, errOut := cli("staff", "remove", id[1]); code != 0 || !strings.Contains(out, "Alice Martin ("+id[1]+") removed") {
		t.Fatalf("staff remove: exit %d:\n%s%s", code, out, errOut)
	}
	if st := signInWith(t, p.url(), strings.TrimSpace(fresh)); st != http.StatusUnauthorized {
		t.Fatalf("a removed member's link: %d", st)
	}
	if code, _, errOut := cli("staff", "remove", id[1]); code == 0 || !strings.Contains(errOut, "member_not_found") {
		t.Fatalf("removing again: exit %d: %s", code, errOut)
	}
	if code, _, errOut := cli("staff", "add"); code != 2 || !strings.Contains(errOut, "staff add NAME") {
		t.Fatalf("staff add without a name: exit %d: %s", code, errOut)
	}

	// The demo's link for Sam: added once, a new link at each start.
	built, err := demoApps(ctx, "", []string{"support"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.router.Upload(ctx, "bistro", "test", "support", built[0].Wasm); err != nil {
		t.Fatal(err)
	}
	d := &demo{p: p}
	first, err := d.memberLink(ctx, "Sam")
	if err != nil {
		t.Fatal(err)
	}
	second, err := d.memberLink(ctx, "Sam")
	if err != nil {
		t.Fatal(err)
	}
	if signInWith(t, p.url(), first) != http.StatusUnauthorized || signInWith(t, p.url(), second) != http.StatusOK {
		t.Fatal("the demo's second link should replace its first")
	}
	if all, _ := p.staff.Members(ctx, "bistro"); len(all) != 1 || all[0].Name != "Sam" {
		t.Fatalf("the staff after two demo starts: %+v", all)
	}
}
