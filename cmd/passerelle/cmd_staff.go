package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"text/tabwriter"
)

// The staff commands: thin clients of /v1/staff (gateway/api/API.md). A
// member's sign-in link opens the merchant inbox only.
var (
	cmdStaffAdd    = command{"staff add", "add a member of staff who answers the inbox, and print their one-time sign-in link: NAME", runStaffAdd}
	cmdStaffList   = command{"staff list", "list your members of staff", runStaffList}
	cmdStaffLink   = command{"staff link", "print a new one-time sign-in link for a member (another device, an expired link): ID", runStaffLink}
	cmdStaffRemove = command{"staff remove", "remove a member of staff; their sessions end at once: ID", runStaffRemove}
)

type staffMember struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Created  int64  `json:"created"`
	SignedIn int64  `json:"signed_in"`
	Sessions int    `json:"sessions"`
}

type staffSignIn struct {
	Member staffMember `json:"member"`
	SignIn struct {
		URL     string `json:"url"`
		Expires int64  `json:"expires"`
	} `json:"signin"`
}

func (s staffSignIn) print(stdout, stderr io.Writer) {
	fmt.Fprintf(stderr, "%s (%s): send them this link; it signs them in to the inbox once, until %s, and is not shown again\n",
		s.Member.Name, s.Member.ID, millis(s.SignIn.Expires))
	fmt.Fprintln(stdout, s.SignIn.URL)
}

func runStaffAdd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, pos, err := publishFlags("staff add", args, stderr, nil)
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 1, 1, "staff add NAME (quote a name with spaces)"); err != nil {
		return err
	}
	var out staffSignIn
	if err := c.call(ctx, http.MethodPost, "/v1/staff", map[string]string{"name": pos[0]}, &out); err != nil {
		return err
	}
	out.print(stdout, stderr)
	return nil
}

func runStaffLink(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, pos, err := publishFlags("staff link", args, stderr, nil)
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 1, 1, "staff link ID"); err != nil {
		return err
	}
	var out staffSignIn
	if err := c.call(ctx, http.MethodPost, "/v1/staff/"+url.PathEscape(pos[0])+"/link", nil, &out); err != nil {
		return err
	}
	out.print(stdout, stderr)
	return nil
}

func runStaffList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, pos, err := publishFlags("staff list", args, stderr, nil)
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 0, 0, "staff list"); err != nil {
		return err
	}
	var out struct {
		Staff []staffMember `json:"staff"`
	}
	if err := c.call(ctx, http.MethodGet, "/v1/staff", nil, &out); err != nil {
		return err
	}
	if len(out.Staff) == 0 {
		fmt.Fprintln(stdout, "no members of staff yet; add one with 'passerelle staff add NAME'")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MEMBER\tNAME\tADDED\tLAST SIGN-IN\tSESSIONS")
	for _, m := range out.Staff {
		last := "never"
		if m.SignedIn != 0 {
			last = millis(m.SignedIn)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", m.ID, m.Name, millis(m.Created), last, m.Sessions)
	}
	return tw.Flush()
}

func runStaffRemove(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, pos, err := publishFlags("staff remove", args, stderr, nil)
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 1, 1, "staff remove ID"); err != nil {
		return err
	}
	var out struct {
		Member staffMember `json:"member"`
	}
	if err := c.call(ctx, http.MethodDelete, "/v1/staff/"+url.PathEscape(pos[0]), nil, &out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s (%s) removed; their inbox sessions ended\n", out.Member.Name, out.Member.ID)
	return nil
}
