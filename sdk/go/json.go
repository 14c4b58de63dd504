package passerelle

import (
	"errors"
	"math/bits"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// Compiled to wasm, encoding/json's reflection costs tens of microseconds per
// event. The types on the hot path (Event, Message, the chat.send response,
// the error document) therefore have hand-written codecs that produce and
// accept exactly what encoding/json does for their struct tags, except that
// keys match case-sensitively. Other types go through encoding/json.

// jsonAppender is implemented by requests with a hand-written encoder.
type jsonAppender interface {
	appendJSON(b []byte) []byte
}

// jsonDecodable is implemented by responses with a hand-written decoder.
type jsonDecodable interface {
	decodeJSON(d *decoder)
}

const maxDepth = 10000

// Every loop iteration and call costs a check when the sandbox makes guest
// code interruptible, so string scanning looks at 8 bytes per iteration.

const (
	lows  = 0x0101010101010101
	highs = 0x8080808080808080
)

// specialMask flags (with the high bit of the byte) the bytes of x that
// JSON strings cannot copy verbatim: '"', '\\', control characters and
// non-ASCII. The lowest flag is exact; flags above it may be spurious.
func specialMask(x uint64) uint64 {
	q := x ^ (lows * '"')
	bs := x ^ (lows * '\\')
	return ((q-lows)&^q | (bs-lows)&^bs | (x-lows*0x20)&^x | x) & highs
}

// plainPrefix returns the index of the first byte of b at or after i that
// is special, or a position close before it, or len(b). It reads 8 bytes at
// a time while 8 remain.
func plainPrefix(b []byte, i int) int {
	if len(b)-i >= 8 { // first word outside the loop: most strings end in it
		m := specialMask(*(*uint64)(unsafe.Pointer(unsafe.SliceData(b[i:]))))
		if m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
		i += 8
	}
	for len(b)-i >= 8 {
		m := specialMask(*(*uint64)(unsafe.Pointer(unsafe.SliceData(b[i:]))))
		if m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
		i += 8
	}
	return i
}

// decoder reads one JSON document. The first error sticks; every method is
// a no-op afterwards.
type decoder struct {
	b     []byte
	i     int
	err   error
	depth int
	buf   []byte // scratch for unescaping
	// shared means b is never written again, so decoded strings may share
	// its memory (the guest's arena); otherwise they are copies.
	shared  bool
	escaped bool // the last strBytes result is in buf, not in b
}

// string returns the token strBytes just returned as a string: b's own
// memory when the input is shared, a copy otherwise.
func (d *decoder) string(s []byte) string {
	if d.shared && !d.escaped {
		return unsafe.String(unsafe.SliceData(s), len(s))
	}
	return string(s)
}

func (d *decoder) fail(msg string) {
	if d.err == nil {
		d.err = errors.New(msg + " at offset " + strconv.Itoa(d.i))
	}
}

func (d *decoder) ws() {
	if d.i < len(d.b) && d.b[d.i] > ' ' {
		return // compact JSON: no loop
	}
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// peek returns the next non-space byte, or 0 at the end.
func (d *decoder) peek() byte {
	d.ws()
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

// end checks that only spaces remain.
func (d *decoder) end() {
	if d.i == len(d.b) {
		return
	}
	if d.ws(); d.err == nil && d.i < len(d.b) {
		d.fail("invalid character after the JSON value")
	}
}

// literal consumes the literal word (true, false, null).
func (d *decoder) literal(word string) {
	if len(d.b)-d.i >= len(word) && string(d.b[d.i:d.i+len(word)]) == word {
		d.i += len(word)
		return
	}
	d.fail("invalid literal")
}

// null consumes a null and reports whether there was one.
func (d *decoder) null() bool {
	if d.err == nil && d.peek() == 'n' {
		d.literal("null")
		return true
	}
	return false
}

// object iterates over the members of an object: call it in a loop; each
// call consumes the separator and the key (returned in d.buf's memory, valid
// until the next string is read) and leaves the value to the caller.
// first must start true. It returns false at the closing brace or on error.
func (d *decoder) object(first *bool) (key []byte, ok bool) {
	if d.err != nil {
		return nil, false
	}
	if *first {
		if d.peek() != '{' {
			d.fail("expected an object")
			return nil, false
		}
		d.i++
		d.depth++
		if d.depth > maxDepth {
			d.fail("nested too deeply")
			return nil, false
		}
		*first = false
		if d.peek() == '}' {
			d.i++
			d.depth--
			return nil, false
		}
	} else {
		c := byte(0)
		if d.i < len(d.b) {
			c = d.b[d.i]
		}
		if c <= ' ' {
			c = d.peek()
		}
		switch c {
		case ',':
			d.i++
		case '}':
			d.i++
			d.depth--
			return nil, false
		default:
			d.fail("expected , or } in object")
			return nil, false
		}
	}
	if d.i >= len(d.b) || d.b[d.i] != '"' {
		if d.peek() != '"' {
			d.fail("expected a string key")
			return nil, false
		}
	}
	key = d.strBytes()
	if d.i >= len(d.b) || d.b[d.i] != ':' {
		d.peek()
	}
	if d.i >= len(d.b) || d.b[d.i] != ':' {
		d.fail("expected : after object key")
		return nil, false
	}
	d.i++
	return key, d.err == nil
}

// str reads a string value; null leaves it unchanged as encoding/json does.
func (d *decoder) str(dst *string) {
	if d.i < len(d.b) && d.b[d.i] == '"' { // compact JSON: skip the checks below
		*dst = d.string(d.strBytes())
		return
	}
	if d.null() || d.err != nil {
		return
	}
	if d.peek() != '"' {
		d.fail("expected a string")
		return
	}
	*dst = d.string(d.strBytes())
}

// strBytes reads a string token starting at '"' and returns its unescaped
// content, with invalid UTF-8 replaced by U+FFFD. The result aliases the
// input or d.buf.
func (d *decoder) strBytes() []byte {
	d.escaped = false
	d.i++ // opening quote
	start := d.i
	if len(d.b)-d.i >= 8 { // the first word inline: most strings end in it
		if m := specialMask(*(*uint64)(unsafe.Pointer(unsafe.SliceData(d.b[d.i:])))); m != 0 {
			d.i += bits.TrailingZeros64(m) >> 3
		} else {
			d.i = plainPrefix(d.b, d.i+8)
		}
	}
	if d.i < len(d.b) && d.b[d.i] == '"' {
		d.i++
		return d.b[start : d.i-1]
	}
	for d.i < len(d.b) {
		c := d.b[d.i]
		if c == '"' {
			s := d.b[start:d.i]
			d.i++
			return s
		}
		if c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			break
		}
		d.i++
	}
	// Slow path: escapes, control characters or non-ASCII.
	d.escaped = true
	d.buf = append(d.buf[:0], d.b[start:d.i]...)
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			d.i++
			return d.buf
		case c < 0x20:
			d.fail("control character in string")
			return nil
		case c == '\\':
			d.escape()
			if d.err != nil {
				return nil
			}
		case c < utf8.RuneSelf:
			d.buf = append(d.buf, c)
			d.i++
		default:
			r, n := utf8.DecodeRune(d.b[d.i:])
			d.buf = utf8.AppendRune(d.buf, r) // RuneError for invalid bytes
			d.i += n
		}
	}
	d.fail("unterminated string")
	return nil
}

func (d *decoder) escape() {
	if d.i+1 >= len(d.b) {
		d.fail("unterminated escape")
		return
	}
	c := d.b[d.i+1]
	d.i += 2
	switch c {
	case '"', '\\', '/':
		d.buf = append(d.buf, c)
	case 'b':
		d.buf = append(d.buf, '\b')
	case 'f':
		d.buf = append(d.buf, '\f')
	case 'n':
		d.buf = append(d.buf, '\n')
	case 'r':
		d.buf = append(d.buf, '\r')
	case 't':
		d.buf = append(d.buf, '\t')
	case 'u':
		r := d.hex4()
		if d.err != nil {
			return
		}
		if utf16.IsSurrogate(r) {
			r2 := rune(-1)
			if d.i+1 < len(d.b) && d.b[d.i] == '\\' && d.b[d.i+1] == 'u' {
				save := d.i
				d.i += 2
				r2 = d.hex4()
				if d.err != nil {
					return
				}
				if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
					d.buf = utf8.AppendRune(d.buf, dec)
					return
				}
				d.i = save // not a pair: the second escape stands alone
			}
			r = utf8.RuneError
		}
		d.buf = utf8.AppendRune(d.buf, r)
	default:
		d.i--
		d.fail("invalid escape")
	}
}

func (d *decoder) hex4() rune {
	if len(d.b)-d.i < 4 {
		d.fail("short \\u escape")
		return 0
	}
	var r rune
	for _, c := range d.b[d.i : d.i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			d.fail("invalid \\u escape")
			return 0
		}
		r = r<<4 | rune(c)
	}
	d.i += 4
	return r
}

// number consumes a JSON number and returns its text.
func (d *decoder) number() []byte {
	start := d.i
	if d.i < len(d.b) && d.b[d.i] == '-' {
		d.i++
	}
	switch {
	case d.i < len(d.b) && d.b[d.i] == '0':
		d.i++
	case d.i < len(d.b) && d.b[d.i] >= '1' && d.b[d.i] <= '9':
		d.digits()
	default:
		d.fail("invalid number")
		return nil
	}
	if d.i < len(d.b) && d.b[d.i] == '.' {
		d.i++
		if d.digits() == 0 {
			d.fail("invalid number")
			return nil
		}
	}
	if d.i < len(d.b) && (d.b[d.i] == 'e' || d.b[d.i] == 'E') {
		d.i++
		if d.i < len(d.b) && (d.b[d.i] == '+' || d.b[d.i] == '-') {
			d.i++
		}
		if d.digits() == 0 {
			d.fail("invalid number")
			return nil
		}
	}
	return d.b[start:d.i]
}

func (d *decoder) digits() int {
	n := 0
	for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
		d.i++
		n++
	}
	return n
}

// int reads an integer value into dst; null leaves it unchanged.
func (d *decoder) int(dst *int64) {
	if d.null() || d.err != nil {
		return
	}
	if c := d.peek(); c != '-' && (c < '0' || c > '9') {
		d.fail("expected a number")
		return
	}
	num := d.number()
	if d.err != nil {
		return
	}
	if len(num) == 1 { // a single digit, like "v":1, without strconv
		*dst = int64(num[0] - '0')
		return
	}
	v, err := strconv.ParseInt(string(num), 10, 64)
	if err != nil {
		d.fail("expected an integer")
		return
	}
	*dst = v
}

// skip consumes any value.
func (d *decoder) skip() {
	if d.err != nil {
		return
	}
	switch c := d.peek(); {
	case c == '"':
		d.strBytes()
	case c == '{':
		for first := true; ; {
			if _, ok := d.object(&first); !ok {
				return
			}
			d.skip()
		}
	case c == '[':
		d.i++
		d.depth++
		if d.depth > maxDepth {
			d.fail("nested too deeply")
			return
		}
		if d.peek() == ']' {
			d.i++
			d.depth--
			return
		}
		for d.err == nil {
			d.skip()
			switch d.peek() {
			case ',':
				d.i++
			case ']':
				d.i++
				d.depth--
				return
			default:
				d.fail("expected , or ] in array")
			}
		}
	case c == 't':
		d.literal("true")
	case c == 'f':
		d.literal("false")
	case c == 'n':
		d.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		d.number()
	default:
		d.fail("unexpected character")
	}
}

// raw consumes any value and returns a copy of its text.
func (d *decoder) raw() []byte {
	d.ws()
	start := d.i
	d.skip()
	if d.err != nil {
		return nil
	}
	return append([]byte(nil), d.b[start:d.i]...)
}

// strReuse is str returning prev, not a new string, when the value equals
// it. A shared input needs no new string: the value is used as it is.
func (d *decoder) strReuse(dst *string, prev string) {
	if d.shared {
		d.str(dst)
		return
	}
	if d.i >= len(d.b) || d.b[d.i] != '"' {
		if d.null() || d.err != nil {
			return
		}
		if d.peek() != '"' {
			d.fail("expected a string")
			return
		}
	}
	if b := d.strBytes(); string(b) == prev {
		*dst = prev
	} else {
		*dst = string(b)
	}
}

// event decodes an event document into ev, which the caller zeroed, reusing
// the strings of prev where they repeat.
func (d *decoder) event(ev, prev *Event) {
	first := true
	if d.shared {
		started, done := d.eventHead(ev)
		if done {
			return
		}
		first = !started
	}
	if first && d.null() {
		return
	}
	for {
		key, ok := d.object(&first)
		if !ok {
			return
		}
		switch string(key) {
		case "v":
			v := int64(ev.V)
			d.int(&v)
			if v != int64(int(v)) {
				d.fail("v out of range")
			}
			ev.V = int(v)
		case "type":
			d.strReuse(&ev.Type, prev.Type)
		case "id":
			d.str(&ev.ID)
		case "app":
			d.strReuse(&ev.App, prev.App)
		case "conversation":
			d.strReuse(&ev.Conversation, prev.Conversation)
		case "user":
			d.strReuse(&ev.User, prev.User)
		case "surface":
			d.strReuse(&ev.Surface, prev.Surface)
		case "text":
			d.str(&ev.Text)
		case "action":
			if d.null() {
				ev.Action = nil
				continue
			}
			if ev.Action == nil {
				ev.Action = &Action{}
			}
			d.action(ev.Action)
		case "payment":
			if d.null() {
				ev.Payment = nil
				continue
			}
			if ev.Payment == nil {
				ev.Payment = &Payment{}
			}
			d.payment(ev.Payment)
		case "timer":
			if d.null() {
				ev.Timer = nil
				continue
			}
			if ev.Timer == nil {
				ev.Timer = &Timer{}
			}
			d.timer(ev.Timer)
		case "consent":
			if d.null() {
				ev.Consent = nil
				continue
			}
			if ev.Consent == nil {
				ev.Consent = &Consent{}
			}
			d.consent(ev.Consent)
		case "handoff":
			if d.null() {
				ev.Handoff = nil
				continue
			}
			if ev.Handoff == nil {
				ev.Handoff = &Handoff{}
			}
			d.handoff(ev.Handoff)
		case "status":
			if d.null() {
				ev.Status = nil
				continue
			}
			if ev.Status == nil {
				ev.Status = &MessageStatus{}
			}
			d.messageStatus(ev.Status)
		default:
			d.skip()
		}
	}
}

// eventHead decodes the first members of an event written the way the
// platform writes it: compact, starting {"v":1,"type":", then id, app,
// conversation, user, surface and text in host.Event's order, strings
// without escapes, control characters or non-ASCII. In the sandbox every
// taken branch and loop step costs a check, so this path compares words,
// not bytes. It stops before the first member it does not expect (at its
// ',' or at the closing '}'), having decoded what the general loop would
// have, and reports whether it consumed the opening brace (started) and
// the whole object (done); the general loop does the rest. Its strings
// share d.b, so it runs on shared input only.
func (d *decoder) eventHead(ev *Event) (started, done bool) {
	b := d.b
	// `{"v":1,"type":"`: a word, then a word masked to 7 bytes.
	if len(b) < 16 || load64(b, 0) != 0x222c313a2276227b || load64(b, 8)&(1<<56-1) != 0x223a2265707974 {
		return false, false
	}
	j := plainEnd(b, 15)
	if j < 0 {
		return false, false
	}
	d.depth++
	ev.V = 1
	ev.Type = unsafe.String(&b[15], j-15)
	d.i = j + 1
	// Each member is tried once, in order; a missing optional one is
	// skipped, anything else ends this path.
	_ = d.member(`","id":"`, &ev.ID) &&
		d.member(`","app":"`, &ev.App)
	_ = d.member(`","conversation":"`, &ev.Conversation)
	_ = d.member(`","user":"`, &ev.User)
	_ = d.member(`","surface":"`, &ev.Surface)
	_ = d.member(`","text":"`, &ev.Text)
	if d.i == len(b)-1 && b[d.i] == '}' {
		d.i++
		d.depth--
		return true, true
	}
	return true, false
}

// member decodes the member that open (the quote closing the previous
// string, then `,"key":"`, 8 to 18 bytes) starts, if b continues with it
// at d.i-1 and its value is a plain string, and reports whether it did.
func (d *decoder) member(open string, dst *string) bool {
	b, i, n := d.b, d.i-1, len(open)
	if len(b)-i < n {
		return false
	}
	s := unsafe.Pointer(unsafe.StringData(open))
	// Three words at 0, mid and n-8 cover 8 to 18 bytes, without a branch.
	mid := (n - 8) >> 1
	diff := (load64(b, i) ^ *(*uint64)(s)) |
		(load64(b, i+mid) ^ *(*uint64)(unsafe.Add(s, mid))) |
		(load64(b, i+n-8) ^ *(*uint64)(unsafe.Add(s, n-8)))
	v := i + n
	if diff == 0 && len(b)-v > 8 {
		// The value's first special byte, or the byte after its first
		// word: a quote there ends a plain value.
		if k := v + bits.TrailingZeros64(specialMask(load64(b, v)))>>3; b[k] == '"' {
			*dst = unsafe.String(unsafe.SliceData(b[v:]), k-v)
			d.i = k + 1
			return true
		}
	}
	if diff != 0 {
		return false
	}
	k := plainEnd(b, v)
	if k < 0 {
		return false
	}
	*dst = unsafe.String(unsafe.SliceData(b[v:]), k-v)
	d.i = k + 1
	return true
}

// load64 reads the little-endian word at b[i:i+8]. The caller must have
// checked that it is in b: a bounds check here would be a branch, and a
// check, in the sandbox.
func load64(b []byte, i int) uint64 {
	return *(*uint64)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(b)), i))
}

// plainEnd returns the index of the quote closing the string whose content
// starts at b[i], if that content is plain (no escapes, control characters
// or non-ASCII), or -1.
func plainEnd(b []byte, i int) int {
	if j := specialFrom(b, i); j < len(b) && b[j] == '"' {
		return j
	}
	return -1
}

// specialFrom returns the index of the first special byte (see
// specialMask) of b at or after i, or len(b). It reads words, the last one
// included, wherever b has 8 bytes.
func specialFrom(b []byte, i int) int {
	for len(b)-i >= 16 { // two words per step: ids are often 16 to 24 bytes
		lo, hi := specialMask(load64(b, i)), specialMask(load64(b, i+8))
		if lo|hi != 0 {
			k := 8 + bits.TrailingZeros64(hi)>>3
			if lo != 0 {
				k = bits.TrailingZeros64(lo) >> 3
			}
			return i + k
		}
		i += 16
	}
	if len(b)-i >= 8 {
		if m := specialMask(load64(b, i)); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
		i += 8
	}
	if len(b) >= 8 {
		return tailSpecial(b, i)
	}
	for i < len(b) && b[i] >= 0x20 && b[i] < utf8.RuneSelf && b[i] != '"' && b[i] != '\\' {
		i++
	}
	return i
}

// tailSpecial returns the index of the first special byte (see specialMask)
// of b at or after i, or len(b), for an i in the last word of b, which is
// at least 8 bytes long: it reads that word and ignores the bytes before i.
func tailSpecial(b []byte, i int) int {
	base := len(b) - 8
	before := uint64(1)<<(uint(i-base)*8) - 1 // the bytes before i (all of them when i == len(b))
	w := load64(b, base)&^before | lows*'a'&before
	return base + bits.TrailingZeros64(specialMask(w))>>3
}

// idOnly decodes a shared document that is exactly {"id":"…"} with a plain
// string, as the platform answers chat.send, and reports whether it was.
func (d *decoder) idOnly(dst *string) bool {
	b, n := d.b, len(d.b)
	// `{"id":"` is 7 bytes: the first word, masked.
	if !d.shared || n < 9 || load64(b, 0)&(1<<56-1) != 0x223a226469227b || b[n-1] != '}' || plainEnd(b, 7) != n-2 {
		return false
	}
	*dst = unsafe.String(&b[7], n-9)
	d.i = n
	return true
}

func (d *decoder) action(a *Action) {
	for first := true; ; {
		key, ok := d.object(&first)
		if !ok {
			return
		}
		switch string(key) {
		case "id":
			d.str(&a.ID)
		case "value":
			d.str(&a.Value)
		case "fields":
			if d.null() {
				a.Fields = nil
				continue
			}
			if a.Fields == nil {
				a.Fields = map[string]string{}
			}
			for first := true; ; {
				k, ok := d.object(&first)
				if !ok {
					break
				}
				name := d.string(k)
				var v string // encoding/json zeroes a map element before decoding into it
				d.str(&v)
				a.Fields[name] = v
			}
		default:
			d.skip()
		}
	}
}

func (d *decoder) payment(p *Payment) {
	for first := true; ; {
		key, ok := d.object(&first)
		if !ok {
			return
		}
		switch string(key) {
		case "order":
			d.str(&p.Order)
		case "status":
			d.str(&p.Status)
		case "amount":
			d.int(&p.Amount)
		case "currency":
			d.str(&p.Currency)
		case "refunded":
			d.int(&p.Refunded)
		case "idempotency_key":
			d.str(&p.IdempotencyKey)
		case "reason":
			d.str(&p.Reason)
		default:
			d.skip()
		}
	}
}

func (d *decoder) timer(t *Timer) {
	for first := true; ; {
		key, ok := d.object(&first)
		if !ok {
			return
		}
		switch string(key) {
		case "id":
			d.str(&t.ID)
		case "payload":
			t.Payload = d.raw()
		default:
			d.skip()
		}
	}
}

func (d *decoder) consent(c *Consent) {
	for first := true; ; {
		key, ok := d.object(&first)
		if !ok {
			return
		}
		switch string(key) {
		case "prompt":
			d.str(&c.Prompt)
		case "scopes":
			d.strs(&c.Scopes)
		case "purpose":
			d.str(&c.Purpose)
		case "template":
			d.str(&c.Template)
		case "granted":
			d.bool(&c.Granted)
		default:
			d.skip()
		}
	}
}

func (d *decoder) handoff(h *Handoff) {
	for first := true; ; {
		key, ok := d.object(&first)
		if !ok {
			return
		}
		switch string(key) {
		case "id":
			d.str(&h.ID)
		case "status":
			d.str(&h.Status)
		case "agent":
			d.str(&h.Agent)
		case "note":
			d.str(&h.Note)
		default:
			d.skip()
		}
	}
}

func (d *decoder) messageStatus(m *MessageStatus) {
	for first := true; ; {
		key, ok := d.object(&first)
		if !ok {
			return
		}
		switch string(key) {
		case "message":
			d.str(&m.Message)
		case "state":
			d.str(&m.State)
		case "code":
			d.str(&m.Code)
		case "network_code":
			n := int64(m.NetworkCode)
			d.int(&n)
			if n != int64(int(n)) {
				d.fail("network_code out of range")
			}
			m.NetworkCode = int(n)
		case "surface":
			d.str(&m.Surface)
		default:
			d.skip()
		}
	}
}

// bool reads true or false into dst; null leaves it unchanged.
func (d *decoder) bool(dst *bool) {
	if d.null() || d.err != nil {
		return
	}
	switch d.peek() {
	case 't':
		d.literal("true")
		*dst = true
	case 'f':
		d.literal("false")
		*dst = false
	default:
		d.fail("expected true or false")
	}
}

// strs reads an array of strings into dst the way encoding/json does: null
// leaves dst unchanged (as do null elements), elements are decoded into the
// slice's existing storage, and an empty array gives an empty, non-nil
// slice.
func (d *decoder) strs(dst *[]string) {
	if d.null() || d.err != nil {
		return
	}
	if d.peek() != '[' {
		d.fail("expected an array of strings")
		return
	}
	d.i++
	d.depth++
	if d.depth > maxDepth {
		d.fail("nested too deeply")
		return
	}
	s := *dst
	n := 0
	if d.peek() == ']' {
		d.i++
		d.depth--
	} else {
		for d.err == nil {
			if n < cap(s) {
				s = s[:n+1]
			} else {
				s = append(s, "")
			}
			d.str(&s[n])
			n++
			switch d.peek() {
			case ',':
				d.i++
				continue
			case ']':
				d.i++
				d.depth--
			default:
				d.fail("expected , or ] in array")
			}
			break
		}
	}
	if d.err != nil {
		return
	}
	if n == 0 && s == nil {
		s = []string{}
	}
	*dst = s[:n]
}

// decodeEventJSON decodes one event document. With shared, b is never
// written again and the event's strings share its memory.
func decodeEventJSON(b []byte, ev, prev *Event, shared bool) error {
	d := decoder{b: b, shared: shared}
	d.event(ev, prev)
	d.end()
	return d.err
}

func (r *sendResponse) decodeJSON(d *decoder) {
	if d.null() {
		return
	}
	for first := true; ; {
		key, ok := d.object(&first)
		if !ok {
			return
		}
		if string(key) == "id" {
			d.str(&r.ID)
		} else {
			d.skip()
		}
	}
}

// errorDoc is the error JSON of a failed host call.
type errorDoc struct {
	Code    string
	Message string
}

func (e *errorDoc) decodeJSON(d *decoder) {
	if d.null() {
		return
	}
	for first := true; ; {
		key, ok := d.object(&first)
		if !ok {
			return
		}
		switch string(key) {
		case "code":
			d.str(&e.Code)
		case "message":
			d.str(&e.Message)
		default:
			d.skip()
		}
	}
}

// Encoding. The appenders write what encoding/json writes for the same
// struct tags with HTML escaping off.

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string like encoding/json: invalid UTF-8
// becomes U+FFFD, U+2028 and U+2029 are escaped.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	i := specialFrom(unsafe.Slice(unsafe.StringData(s), len(s)), 0)
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += n
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += n
			start = i
			continue
		}
		i += n
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// fields writes object members: sep tracks whether one was written.
type fields struct {
	b   []byte
	sep bool
}

func (f *fields) key(k string) {
	if f.sep {
		f.b = append(f.b, ',')
	}
	f.sep = true
	f.b = append(f.b, '"')
	f.b = append(f.b, k...)
	f.b = append(f.b, '"', ':')
}

func (f *fields) str(k, v string) {
	f.key(k)
	f.b = appendString(f.b, v)
}

func (f *fields) optStr(k, v string) {
	if v != "" {
		f.str(k, v)
	}
}

func (m *Message) appendJSON(b []byte) []byte {
	if m.Card == nil && m.Text != "" { // a text message, the usual reply
		b = appendString(append(b, `{"text":`...), m.Text)
		return append(b, '}')
	}
	f := fields{b: append(b, '{')}
	f.optStr("text", m.Text)
	if m.Card != nil {
		f.key("card")
		f.b = m.Card.appendJSON(f.b)
	}
	return append(f.b, '}')
}

func (c *Card) appendJSON(b []byte) []byte {
	f := fields{b: append(b, '{')}
	f.optStr("title", c.Title)
	f.optStr("text", c.Text)
	f.optStr("image", c.Image)
	if len(c.Buttons) > 0 {
		f.key("buttons")
		f.b = appendArray(f.b, c.Buttons, func(b []byte, bt *Button) []byte {
			g := fields{b: append(b, '{')}
			g.str("id", bt.ID)
			g.str("title", bt.Title)
			g.optStr("value", bt.Value)
			return append(g.b, '}')
		})
	}
	if l := c.List; l != nil {
		f.key("list")
		g := fields{b: append(f.b, '{')}
		g.optStr("button", l.Button)
		g.key("items")
		g.b = appendArray(g.b, l.Items, func(b []byte, it *ListItem) []byte {
			h := fields{b: append(b, '{')}
			h.str("id", it.ID)
			h.str("title", it.Title)
			h.optStr("description", it.Description)
			return append(h.b, '}')
		})
		f.b = append(g.b, '}')
	}
	if fm := c.Form; fm != nil {
		f.key("form")
		g := fields{b: append(f.b, '{')}
		g.str("id", fm.ID)
		g.key("fields")
		g.b = appendArray(g.b, fm.Fields, func(b []byte, ff *FormField) []byte {
			h := fields{b: append(b, '{')}
			h.str("name", ff.Name)
			h.str("label", ff.Label)
			h.optStr("type", ff.Type)
			if ff.Required {
				h.key("required")
				h.b = append(h.b, "true"...)
			}
			return append(h.b, '}')
		})
		g.optStr("submit", fm.Submit)
		f.b = append(g.b, '}')
	}
	if s := c.Share; s != nil {
		f.key("share")
		g := fields{b: append(f.b, '{')}
		g.str("app", s.App)
		g.optStr("payload", s.Payload)
		f.b = append(g.b, '}')
	}
	return append(f.b, '}')
}

// appendArray writes items as a JSON array, each with elem; a nil slice is
// null, as encoding/json writes it.
func appendArray[T any](b []byte, items []T, elem func(b []byte, item *T) []byte) []byte {
	if items == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = elem(b, &items[i])
	}
	return append(b, ']')
}
