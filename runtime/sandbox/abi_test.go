package sandbox_test

import (
	"context"
	"testing"

	"github.com/passerelle/passerelle/host"
	"github.com/passerelle/passerelle/runtime/sandbox"
)

// TestReadChecksDeclaredRange checks that event_read and result_read
// refuse a (ptr, len) past the end of memory even when fewer bytes would
// be copied (ABI.md, Memory rules 2 and 3).
func TestReadChecksDeclaredRange(t *testing.T) {
	e, _ := newEngine(t, nil)
	a := load(t, e, fixture(t, "read_range", nil, host.Limits{}))
	tests := []struct {
		name    string
		payload string
		problem string
	}{
		{"event_read past the end, event shorter", `{"v":1}`, "event_read: bytes [65500, 69596) lie outside guest memory of 65536 bytes"},
		{"result_read past the end, nothing pending", `r`, "result_read: bytes [65535, 65537) lie outside guest memory of 65536 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := a.Dispatch(context.Background(), &sandbox.Event{Payload: []byte(tt.payload)})
			wantABI("pointer.range", tt.problem)(t, err)
		})
	}
	if st := a.Stats(); st.ABI != 2 || st.Discarded != 2 {
		t.Errorf("stats = %+v, want 2 ABI failures, both instances discarded", st)
	}
}
