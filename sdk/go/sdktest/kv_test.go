package sdktest_test

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	passerelle "github.com/passerelle/passerelle/sdk/go"
	"github.com/passerelle/passerelle/sdk/go/sdktest"
)

// A visit counter kept in the person's storage.
func ExampleHost_storage() {
	app := passerelle.NewApp().OnOpen(func(c *passerelle.Context, ev *passerelle.Event) error {
		store := c.PersonStore()
		n := 0
		if v, err := store.Get("visits"); err == nil {
			n, _ = strconv.Atoi(v)
		} else if !errors.Is(err, passerelle.ErrNotFound) {
			return err
		}
		n++
		if err := store.Set("visits", strconv.Itoa(n)); err != nil {
			return err
		}
		_, err := c.SendText(fmt.Sprintf("Visit number %d", n))
		return err
	})
	h := sdktest.New(app)
	_ = h.Open()
	_ = h.Open()
	h.User = "someone-else"
	_ = h.Open()
	for _, m := range h.Sent() {
		fmt.Println(m.Text)
	}
	// Output:
	// Visit number 1
	// Visit number 2
	// Visit number 1
}

func TestStorage(t *testing.T) {
	type step func(c *passerelle.Context) (string, error)
	// app runs steps[i] for the message "i" and replies "=" + its result.
	app := func(steps []step) *passerelle.App {
		return passerelle.NewApp().OnMessage(func(c *passerelle.Context, ev *passerelle.Event) error {
			i, _ := strconv.Atoi(ev.Text)
			out, err := steps[i](c)
			if err != nil {
				return err
			}
			_, err = c.SendText("=" + out)
			return err
		})
	}
	tests := []struct {
		name    string
		steps   []step
		want    []string
		wantErr error
	}{
		{"set get delete", []step{
			func(c *passerelle.Context) (string, error) { return "", c.Store().Set("k", "v") },
			func(c *passerelle.Context) (string, error) { return c.Store().Get("k") },
			func(c *passerelle.Context) (string, error) {
				ok, err := c.Store().Delete("k")
				return strconv.FormatBool(ok), err
			},
			func(c *passerelle.Context) (string, error) {
				ok, err := c.Store().Delete("k")
				return strconv.FormatBool(ok), err
			},
		}, []string{"", "v", "true", "false"}, nil},
		{"bytes round trip", []step{
			func(c *passerelle.Context) (string, error) { return "", c.Store().SetBytes("b", []byte{0, 1, 255}) },
			func(c *passerelle.Context) (string, error) {
				b, err := c.Store().GetBytes("b")
				return fmt.Sprint(b), err
			},
		}, []string{"", "[0 1 255]"}, nil},
		{"scopes are apart", []step{
			func(c *passerelle.Context) (string, error) { return "", c.PersonStore().Set("k", "mine") },
			func(c *passerelle.Context) (string, error) { return c.Store().Get("k") },
		}, nil, passerelle.ErrNotFound},
		{"list pages", []step{
			func(c *passerelle.Context) (string, error) {
				for _, k := range []string{"o/3", "o/1", "x", "o/2"} {
					if err := c.Store().Set(k, "."); err != nil {
						return "", err
					}
				}
				return "", nil
			},
			func(c *passerelle.Context) (string, error) {
				keys, next, err := c.Store().List("o/", "", 2)
				return strings.Join(keys, ",") + "|" + next, err
			},
			func(c *passerelle.Context) (string, error) {
				keys, next, err := c.Store().List("o/", "o/2", 2)
				return strings.Join(keys, ",") + "|" + next, err
			},
		}, []string{"", "o/1,o/2|o/2", "o/3|"}, nil},
		{"value over 64 KiB", []step{
			func(c *passerelle.Context) (string, error) {
				return "", c.Store().Set("big", strings.Repeat("x", 64<<10+1))
			},
		}, nil, passerelle.ErrQuota},
		{"empty key", []step{
			func(c *passerelle.Context) (string, error) { return c.Store().Get("") },
		}, nil, passerelle.ErrBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := sdktest.New(app(tt.steps))
			var got []string
			var err error
			for i := range tt.steps {
				if err = h.Message(strconv.Itoa(i)); err != nil {
					break
				}
			}
			for _, m := range h.Sent() {
				got = append(got, strings.TrimPrefix(m.Text, "="))
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil && !slices.Equal(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}
