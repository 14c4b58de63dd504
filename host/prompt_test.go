package host_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/passerelle/passerelle/host"
)

func TestSettles(t *testing.T) {
	final := []host.Status{host.StatusConflict, host.StatusInsufficientFunds}
	kind := &host.Error{Status: host.StatusInsufficientFunds, Message: "pay: insufficient funds"}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"no error", nil, true},
		{"a final status", host.Errorf(host.StatusConflict, "already paid"), true},
		{"a wrapped kind", fmt.Errorf("confirm: %w", host.Wrapf(kind, "5.00 EUR of 12.50 EUR")), true},
		{"another status", host.Errorf(host.StatusUnavailable, "retry"), false},
		{"a host failure", errors.New("disk full"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := host.Settles(tc.err, final...); got != tc.want {
				t.Fatalf("Settles(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

func TestErrorKinds(t *testing.T) {
	kind := &host.Error{Status: host.StatusQuota, Message: "kv: storage limit exceeded"}
	err := fmt.Errorf("kv.set: %w", host.Wrapf(kind, "16 of 16 MiB used; delete keys"))
	if !errors.Is(err, kind) || host.StatusOf(err) != host.StatusQuota {
		t.Fatalf("errors.Is %v, status %s", errors.Is(err, kind), host.StatusOf(err))
	}
	if got, want := host.MessageOf(err), "kv.set: kv: storage limit exceeded: 16 of 16 MiB used; delete keys"; got != want {
		t.Fatalf("MessageOf = %q, want %q", got, want)
	}
	if got := host.MessageOf(errors.New("open /var/db: permission denied")); got != "" {
		t.Fatalf("a host failure's text reached the caller: %q", got)
	}
	if host.StatusOf(errors.New("x")) != host.StatusInternal || host.StatusOf(nil) != host.StatusOK {
		t.Fatal("StatusOf of a plain error or nil")
	}
}

func TestCodeOf(t *testing.T) {
	exists := &host.Error{Status: host.StatusConflict, Code: "version_exists", Message: "version already uploaded"}
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"a kind's code", fmt.Errorf("upload: %w", host.Wrapf(exists, "1.2.0")), "version_exists"},
		{"no code: the status's name", host.Errorf(host.StatusWindowClosed, "no window"), "window_closed"},
		{"a host failure", errors.New("disk full"), "internal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := host.CodeOf(tc.err); got != tc.want {
				t.Fatalf("CodeOf = %q, want %q", got, tc.want)
			}
		})
	}
}
