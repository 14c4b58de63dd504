package sdktest_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	passerelle "github.com/passerelle/passerelle/sdk/go"
	"github.com/passerelle/passerelle/sdk/go/sdktest"
)

// A lunch app asks for a payment and thanks the person once it is paid.
func ExampleHost_Confirm() {
	app := passerelle.NewApp()
	app.OnMessage(func(c *passerelle.Context, ev *passerelle.Event) error {
		_, err := c.RequestPayment(passerelle.PaymentRequest{Amount: 1250, Currency: "EUR", Description: "Soup", IdempotencyKey: "cart-1"})
		return err
	})
	app.OnPayment(func(c *passerelle.Context, ev *passerelle.Event) error {
		_, err := c.SendText(fmt.Sprintf("Order %s is %s (%d %s).", ev.Payment.Order, ev.Payment.Status, ev.Payment.Amount, ev.Payment.Currency))
		return err
	})
	h := sdktest.New(app)
	_ = h.Message("soup please")
	order := h.Orders()[0]
	fmt.Println(order.Order, order.Status)
	_ = h.Confirm(order.Order)
	fmt.Println(h.Sent()[0].Text)
	// Output:
	// ord_2 awaiting_confirmation
	// Order ord_2 is paid (1250 EUR).
}

// A reminder set with a timer comes back with its payload.
func ExampleHost_FireTimer() {
	app := passerelle.NewApp()
	app.OnMessage(func(c *passerelle.Context, ev *passerelle.Event) error {
		_, err := c.After(10*time.Minute, map[string]string{"say": ev.Text})
		return err
	})
	app.OnTimer(func(c *passerelle.Context, ev *passerelle.Event) error {
		var p struct{ Say string }
		if err := json.Unmarshal(ev.Timer.Payload, &p); err != nil {
			return err
		}
		_, err := c.SendText("Reminder: " + p.Say)
		return err
	})
	h := sdktest.New(app)
	_ = h.Message("stretch")
	t := h.Timers()[0]
	fmt.Println(t.After)
	_ = h.FireTimer(t.ID)
	fmt.Println(h.Sent()[0].Text, len(h.Timers()))
	// Output:
	// 10m0s
	// Reminder: stretch 0
}

func TestPayments(t *testing.T) {
	var last passerelle.Order
	var lastErr error
	req := passerelle.PaymentRequest{Amount: 900, Currency: "EUR", Description: "Salad", IdempotencyKey: "k"}
	run := map[string]func(c *passerelle.Context){
		"request":  func(c *passerelle.Context) { last, lastErr = c.RequestPayment(req) },
		"conflict": func(c *passerelle.Context) { r := req; r.Amount++; last, lastErr = c.RequestPayment(r) },
		"bad":      func(c *passerelle.Context) { r := req; r.Currency = "eur"; last, lastErr = c.RequestPayment(r) },
		"status":   func(c *passerelle.Context) { last, lastErr = c.PaymentStatus(last.Order) },
		"refund":   func(c *passerelle.Context) { last, lastErr = c.Refund(last.Order, 400, "r1") },
		"too much": func(c *passerelle.Context) { last, lastErr = c.Refund(last.Order, 600, "r2") },
		"rest":     func(c *passerelle.Context) { last, lastErr = c.Refund(last.Order, 0, "r3") },
	}
	app := passerelle.NewApp().OnMessage(func(c *passerelle.Context, ev *passerelle.Event) error {
		run[ev.Text](c)
		return nil
	})
	h := sdktest.New(app)
	steps := []struct {
		do      string // a message, or "confirm"
		status  string
		wantErr error
	}{
		{"request", "awaiting_confirmation", nil},
		{"request", "awaiting_confirmation", nil}, // a retry returns the same order
		{"conflict", "", passerelle.ErrConflict},
		{"bad", "", passerelle.ErrBadRequest},
		{"refund", "", passerelle.ErrConflict}, // not paid yet
		{"confirm", "", nil},
		{"status", "paid", nil},
		{"refund", "partially_refunded", nil},
		{"too much", "", passerelle.ErrBadRequest},
		{"rest", "refunded", nil},
	}
	order := ""
	for i, s := range steps {
		if s.do == "confirm" {
			if err := h.Confirm(order); err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
			if err := h.Confirm(order); err == nil {
				t.Fatalf("step %d: confirmed twice", i)
			}
			continue
		}
		last, lastErr = passerelle.Order{Order: order}, nil
		if err := h.Message(s.do); err != nil {
			t.Fatal(err)
		}
		if !errors.Is(lastErr, s.wantErr) {
			t.Fatalf("step %d %s: err %v, want %v", i, s.do, lastErr, s.wantErr)
		}
		if s.wantErr != nil {
			continue
		}
		if last.Status != s.status {
			t.Fatalf("step %d %s: status %q, want %q", i, s.do, last.Status, s.status)
		}
		if order == "" {
			order = last.Order
		} else if last.Order != order {
			t.Fatalf("step %d: order %s, want %s", i, last.Order, order)
		}
	}
	if n := len(h.Orders()); n != 1 {
		t.Fatalf("%d orders, want 1", n)
	}
}

func TestTimers(t *testing.T) {
	var id string
	var err error
	app := passerelle.NewApp().OnMessage(func(c *passerelle.Context, ev *passerelle.Event) error {
		switch ev.Text {
		case "set":
			id, err = c.After(time.Second, nil)
		case "cancel":
			err = c.CancelTimer(id)
		case "zero":
			_, err = c.After(0, nil)
		}
		return nil
	})
	h := sdktest.New(app)
	tests := []struct {
		msg     string
		pending int
		wantErr error
	}{
		{"set", 1, nil},
		{"cancel", 0, nil},
		{"cancel", 0, passerelle.ErrNotFound},
		{"zero", 0, passerelle.ErrBadRequest},
	}
	for _, tt := range tests {
		if e := h.Message(tt.msg); e != nil {
			t.Fatal(e)
		}
		if !errors.Is(err, tt.wantErr) || len(h.Timers()) != tt.pending {
			t.Fatalf("%s: err %v (want %v), %d pending (want %d)", tt.msg, err, tt.wantErr, len(h.Timers()), tt.pending)
		}
	}
	if err := h.FireTimer(id); err == nil {
		t.Fatal("fired a cancelled timer")
	}
}
