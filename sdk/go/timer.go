package passerelle

import (
	"encoding/json"
	"time"
)

// After sets a timer (operation timer.after, permission "timer"): after d
// the app receives a timer event carrying payload (any JSON-encodable value,
// or nil). It returns the timer id. Beyond the app's number of pending
// timers it fails with ErrQuota.
func (c *Context) After(d time.Duration, payload any) (id string, err error) {
	req := struct {
		AfterMS int64           `json:"after_ms"`
		Payload json.RawMessage `json:"payload,omitempty"`
	}{AfterMS: d.Milliseconds()}
	if d > 0 && req.AfterMS == 0 {
		req.AfterMS = 1
	}
	if payload != nil {
		if req.Payload, err = json.Marshal(payload); err != nil {
			return "", err
		}
	}
	var r struct {
		ID string `json:"id"`
	}
	err = c.call("timer.after", importTimerAfter, &req, &r)
	return r.ID, err
}

// CancelTimer cancels a pending timer; one that already fired or was
// cancelled fails with ErrNotFound.
func (c *Context) CancelTimer(id string) error {
	return c.call("timer.cancel", importTimerCancel, &struct {
		ID string `json:"id"`
	}{id}, nil)
}
