package passerelle

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unsafe"
)

// Level is the level of a log line.
type Level uint32

// Log levels, as the ABI's log import numbers them.
const (
	LevelDebug Level = 0
	LevelInfo  Level = 1
	LevelWarn  Level = 2
	LevelError Level = 3
)

// Context makes host calls on behalf of one event. It is valid only while the
// handler that received it runs.
type Context struct {
	host Host // nil inside the sandbox: calls go to the passerelle_v1 imports
	ev   Event
	req  []byte        // reused request encoding
	buf  bytes.Buffer  // request encoding through encoding/json
	enc  *json.Encoder // writes into buf; made on first use
}

func newContext() *Context {
	return &Context{}
}

// importFunc is the shape of every operation import:
// (req_ptr i32, req_len i32) -> i64 (status << 32 | result length).
type importFunc func(ptr unsafe.Pointer, n uint32) uint64

// call performs one host operation: it encodes req as JSON (with
// encoding/json unless it has a hand-written encoder), calls op and decodes
// the response into resp (which may be nil) or turns a non-zero status into
// an *Error. A typed helper for a new operation is one method around call.
func (c *Context) call(op string, imp importFunc, req, resp any) error {
	var body []byte
	if a, ok := req.(jsonAppender); ok {
		c.req = a.appendJSON(c.req[:0])
		body = c.req
	} else {
		if c.enc == nil {
			c.enc = json.NewEncoder(&c.buf)
			c.enc.SetEscapeHTML(false)
		}
		c.buf.Reset()
		if err := c.enc.Encode(req); err != nil {
			return fmt.Errorf("%s: encode request: %w", op, err)
		}
		body = c.buf.Bytes()
	}
	out, err := c.roundTrip(op, imp, body)
	if err != nil || resp == nil || len(out) == 0 {
		return err
	}
	if r, ok := resp.(jsonDecodable); ok {
		return decodeResponse(op, out, c.host == nil, r)
	}
	if err := json.Unmarshal(out, resp); err != nil {
		return fmt.Errorf("%s: decode response: %w", op, err)
	}
	return nil
}

// roundTrip sends the encoded request body to op and returns the response
// JSON, or an *Error for a non-zero status. Inside the sandbox the response
// is arena memory that decoded strings may share.
func (c *Context) roundTrip(op string, imp importFunc, body []byte) ([]byte, error) {
	var (
		st  Status
		out []byte
	)
	if c.host != nil {
		st, out = c.host.Call(op, body)
	} else {
		st, out = guestCall(imp, body)
	}
	if st != StatusOK {
		return nil, decodeError(op, st, out, c.host == nil)
	}
	return out, nil
}

func decodeResponse(op string, out []byte, shared bool, r jsonDecodable) error {
	d := decoder{b: out, shared: shared}
	r.decodeJSON(&d)
	d.end()
	if d.err != nil {
		return fmt.Errorf("%s: decode response: %w", op, d.err)
	}
	return nil
}

// decodeError turns a status and the error JSON into an *Error. The status
// returned by the call wins over the one in the JSON.
func decodeError(op string, st Status, body []byte, shared bool) error {
	e := &Error{Op: op, Status: st, Code: st.String()}
	var doc errorDoc
	d := decoder{b: body, shared: shared}
	doc.decodeJSON(&d)
	d.end()
	if d.err == nil {
		if doc.Code != "" {
			e.Code = doc.Code
		}
		e.Message = doc.Message
	} else if len(body) > 0 {
		e.Message = string(body)
	}
	return e
}

// Log writes msg to the app's log at level.
func (c *Context) Log(level Level, msg string) {
	if c.host != nil {
		c.host.Log(level, msg)
		return
	}
	guestLog(level, msg)
}

// Logf formats a line and writes it to the app's log at level.
func (c *Context) Logf(level Level, format string, args ...any) {
	c.Log(level, fmt.Sprintf(format, args...))
}
