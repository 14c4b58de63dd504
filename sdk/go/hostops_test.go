package passerelle_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	passerelle "github.com/passerelle/passerelle/sdk/go"
	"github.com/passerelle/passerelle/sdk/go/sdktest"
)

// run delivers one message event to a handler and returns the host, so
// tests can look at the calls made.
func run(t *testing.T, setup func(h *sdktest.Host), fn passerelle.Handler) *sdktest.Host {
	t.Helper()
	h := sdktest.New(passerelle.NewApp().OnMessage(fn))
	setup(h)
	if err := h.Message("go"); err != nil {
		t.Fatal(err)
	}
	return h
}

func TestKV(t *testing.T) {
	store := map[string]map[string]any{}
	h := run(t, func(h *sdktest.Host) {
		h.Handle("kv.set", func(req []byte) (any, error) {
			var r map[string]any
			_ = json.Unmarshal(req, &r)
			scope := r["scope"].(string)
			if store[scope] == nil {
				store[scope] = map[string]any{}
			}
			if v, ok := r["value_b64"]; ok {
				store[scope][r["key"].(string)] = map[string]any{"value_b64": v}
			} else {
				store[scope][r["key"].(string)] = map[string]any{"value": r["value"]}
			}
			return struct{}{}, nil
		})
		h.Handle("kv.get", func(req []byte) (any, error) {
			var r map[string]string
			_ = json.Unmarshal(req, &r)
			v, ok := store[r["scope"]][r["key"]]
			if !ok {
				return nil, &passerelle.Error{Status: passerelle.StatusNotFound, Message: "no key"}
			}
			return v, nil
		})
		h.Handle("kv.delete", func(req []byte) (any, error) { return map[string]bool{"deleted": true}, nil })
		h.Handle("kv.list", func(req []byte) (any, error) {
			return map[string]any{"keys": []string{"a", "b"}, "cursor": "b"}, nil
		})
	}, func(c *passerelle.Context, ev *passerelle.Event) error {
		if err := c.Store().Set("greeting", "hello"); err != nil {
			return err
		}
		if err := c.PersonStore().SetBytes("blob", []byte{0, 1, 255}); err != nil {
			return err
		}
		if v, err := c.Store().Get("greeting"); err != nil || v != "hello" {
			return fmt.Errorf("Get = %q, %v", v, err)
		}
		if b, err := c.PersonStore().GetBytes("blob"); err != nil || string(b) != "\x00\x01\xff" {
			return fmt.Errorf("GetBytes = %q, %v", b, err)
		}
		if b, err := c.Store().GetBytes("greeting"); err != nil || string(b) != "hello" {
			return fmt.Errorf("GetBytes of text = %q, %v", b, err)
		}
		if _, err := c.Store().Get("blob"); !errors.Is(err, passerelle.ErrNotFound) {
			return fmt.Errorf("person key visible in the app scope: %v", err)
		}
		if ok, err := c.Store().Delete("greeting"); !ok || err != nil {
			return fmt.Errorf("Delete = %v, %v", ok, err)
		}
		keys, next, err := c.Store().List("", "", 2)
		if err != nil || len(keys) != 2 || next != "b" {
			return fmt.Errorf("List = %v, %q, %v", keys, next, err)
		}
		return nil
	})
	calls := h.Calls()
	if len(calls) != 8 || calls[0].Request != `{"scope":"app","key":"greeting","value":"hello"}` ||
		calls[1].Request != `{"scope":"person","key":"blob","value_b64":"AAH/"}` {
		t.Fatalf("calls = %+v", calls)
	}
}

func TestProfilePaymentTimerShare(t *testing.T) {
	consent := &passerelle.Error{Status: passerelle.StatusConsentRequired, Message: "asked"}
	h := run(t, func(h *sdktest.Host) {
		h.Handle("identity.profile", func(req []byte) (any, error) {
			if strings.Contains(string(req), "phone") {
				return nil, consent
			}
			return passerelle.Profile{User: "u1", Union: "un1", Name: "Alice"}, nil
		})
		h.Handle("pay.request", func(req []byte) (any, error) {
			var r passerelle.PaymentRequest
			_ = json.Unmarshal(req, &r)
			return passerelle.Order{Order: "ord_1", Status: "awaiting_confirmation", Amount: r.Amount, Currency: r.Currency}, nil
		})
		h.Handle("pay.refund", func(req []byte) (any, error) { return passerelle.Order{Order: "ord_1", Status: "refunded"}, nil })
		h.Handle("pay.status", func(req []byte) (any, error) { return passerelle.Order{Order: "ord_1", Status: "paid"}, nil })
		h.Handle("timer.after", func(req []byte) (any, error) { return map[string]string{"id": "tm_1"}, nil })
		h.Handle("timer.cancel", func(req []byte) (any, error) { return struct{}{}, nil })
		h.Handle("chat.share", func(req []byte) (any, error) { return map[string]any{"id": "msg_1", "prompted": true}, nil })
	}, func(c *passerelle.Context, ev *passerelle.Event) error {
		if p, err := c.Profile(); err != nil || p.Name != "Alice" {
			return fmt.Errorf("Profile = %+v, %v", p, err)
		}
		if _, err := c.Profile(passerelle.FieldName, passerelle.FieldPhone); !errors.Is(err, passerelle.ErrConsentRequired) {
			return fmt.Errorf("Profile(phone) err = %v", err)
		}
		o, err := c.RequestPayment(passerelle.PaymentRequest{Amount: 1250, Currency: "EUR", Description: "Shirt", IdempotencyKey: "cart-1"})
		if err != nil || o.Order != "ord_1" || o.Amount != 1250 {
			return fmt.Errorf("RequestPayment = %+v, %v", o, err)
		}
		if o, err := c.Refund("ord_1", 0, "r1"); err != nil || o.Status != "refunded" {
			return fmt.Errorf("Refund = %+v, %v", o, err)
		}
		if o, err := c.PaymentStatus("ord_1"); err != nil || o.Status != "paid" {
			return fmt.Errorf("PaymentStatus = %+v, %v", o, err)
		}
		if id, err := c.After(90*time.Second, map[string]string{"order": "ord_1"}); err != nil || id != "tm_1" {
			return fmt.Errorf("After = %q, %v", id, err)
		}
		if err := c.CancelTimer("tm_1"); err != nil {
			return err
		}
		if id, err := c.Share(passerelle.Card{Title: "Our shop"}, "sku-1"); err != nil || id != "msg_1" {
			return fmt.Errorf("Share = %q, %v", id, err)
		}
		return nil
	})
	want := map[string]string{
		"pay.request":  `{"amount":1250,"currency":"EUR","description":"Shirt","idempotency_key":"cart-1"}`,
		"pay.refund":   `{"order":"ord_1","idempotency_key":"r1"}`,
		"timer.after":  `{"after_ms":90000,"payload":{"order":"ord_1"}}`,
		"timer.cancel": `{"id":"tm_1"}`,
		"chat.share":   `{"card":{"title":"Our shop"},"payload":"sku-1"}`,
	}
	for _, c := range h.Calls() {
		if w, ok := want[c.Op]; ok && c.Request != w {
			t.Errorf("%s request = %s, want %s", c.Op, c.Request, w)
		}
	}
}
