package host_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/passerelle/passerelle/host"
)

// queuer records what is emitted and queued, in order, and lets the test
// decide what each wait returns.
type queuer struct {
	log     []string
	waitErr error
}

// describe is "message <text>" or "prompt <id>".
func describe(out host.Outgoing) string {
	if out.Prompt != nil {
		return "prompt " + out.Prompt.ID
	}
	return "message " + out.Message.Text
}

func (q *queuer) Emit(_ context.Context, out host.Outgoing) error {
	q.log = append(q.log, "emit "+describe(out))
	return nil
}

func (q *queuer) Queue(_ context.Context, out host.Outgoing) (func() error, error) {
	body := out.Message.Text
	q.log = append(q.log, "queue "+body)
	return func() error {
		q.log = append(q.log, "stored "+body)
		return q.waitErr
	}, nil
}

type plain struct{ log []string }

func (p *plain) Emit(_ context.Context, out host.Outgoing) error {
	p.log = append(p.log, "emit "+describe(out))
	return nil
}

func TestCallEmit(t *testing.T) {
	ctx := context.Background()
	msg := func(text string) host.Outgoing { return host.Outgoing{Message: &host.Message{Text: text}} }
	prompt := func(id string) host.Outgoing {
		return host.Outgoing{Prompt: &host.Prompt{ID: id, Person: "p1", Body: []byte(`{}`)}}
	}

	t.Run("messages are queued and waited for by whoever made the call", func(t *testing.T) {
		q := &queuer{}
		c := &host.Call{Out: q}
		for _, b := range []string{"1", "2"} {
			if err := c.Emit(ctx, msg(b)); err != nil {
				t.Fatal(err)
			}
		}
		want := []string{"queue 1", "queue 2"}
		if !slices.Equal(q.log, want) {
			t.Fatalf("after Emit: %q, want %q", q.log, want)
		}
		p := c.TakePending()
		if len(p) != 2 || len(c.TakePending()) != 0 {
			t.Fatalf("TakePending gave %d waits, then still had some", len(p))
		}
		if err := p.Wait(); err != nil {
			t.Fatal(err)
		}
		want = append(want, "stored 1", "stored 2")
		if !slices.Equal(q.log, want) {
			t.Fatalf("after Wait: %q, want %q", q.log, want)
		}
	})

	t.Run("a prompt waits for the messages queued before it", func(t *testing.T) {
		q := &queuer{}
		c := &host.Call{Out: q}
		if err := c.Emit(ctx, msg("card")); err != nil {
			t.Fatal(err)
		}
		if err := c.Emit(ctx, prompt("pay")); err != nil {
			t.Fatal(err)
		}
		want := []string{"queue card", "stored card", "emit prompt pay"}
		if !slices.Equal(q.log, want) {
			t.Fatalf("got %q, want %q", q.log, want)
		}
		if n := len(c.TakePending()); n != 0 {
			t.Fatalf("%d waits left after the prompt", n)
		}
	})

	t.Run("a failed store stops the prompt and is reported", func(t *testing.T) {
		boom := errors.New("disk full")
		q := &queuer{waitErr: boom}
		c := &host.Call{Out: q}
		if err := c.Emit(ctx, msg("card")); err != nil {
			t.Fatal(err)
		}
		if err := c.Emit(ctx, prompt("pay")); !errors.Is(err, boom) {
			t.Fatalf("prompt after a failed store: %v, want %v", err, boom)
		}
		if slices.Contains(q.log, "emit prompt pay") {
			t.Fatalf("the prompt was shown although the message before it was not stored: %q", q.log)
		}
	})

	t.Run("an outbox that cannot queue emits at once", func(t *testing.T) {
		p := &plain{}
		c := &host.Call{Out: p}
		if err := c.Emit(ctx, msg("hi")); err != nil {
			t.Fatal(err)
		}
		if len(p.log) != 1 || len(c.TakePending()) != 0 {
			t.Fatalf("log %q, pending left", p.log)
		}
	})

	t.Run("Wait calls every wait and returns the first error", func(t *testing.T) {
		first, second := errors.New("first"), errors.New("second")
		calls := 0
		p := host.Pending{
			func() error { calls++; return nil },
			func() error { calls++; return first },
			func() error { calls++; return second },
		}
		if err := p.Wait(); !errors.Is(err, first) || calls != 3 {
			t.Fatalf("Wait = %v after %d calls, want %v after 3", err, calls, first)
		}
	})
}
