package gateway

import (
	"encoding/json"
	"unicode/utf8"

	"github.com/passerelle/passerelle/host"
)

// ProtocolVersion is the version a client names in hello ("v":1).
const ProtocolVersion = 1

// Client frame types.
const (
	TypeHello         = "hello"
	TypeSend          = "send"
	TypeOpen          = "open"
	TypeAction        = "action"
	TypeAnswer        = "answer"
	TypeHistory       = "history"
	TypeGroup         = "group"
	TypeConversations = "conversations"
	TypePeople        = "people"
	TypeApps          = "apps"
	TypeWallet        = "wallet"
	TypeSurface       = "surface"
	TypeMark          = "mark"
	TypePayments      = "payments"
	TypeTyping        = "typing"
	TypeConsents      = "consents"
	TypeRevoke        = "revoke"
)

// Frame is a client frame. Which fields matter depends on Type; PROTOCOL.md
// documents each.
type Frame struct {
	Type    string            `json:"type"`
	ID      string            `json:"id,omitempty"`      // client request id, echoed in ack/result/error
	V       int               `json:"v,omitempty"`       // hello: protocol version
	Surface string            `json:"surface,omitempty"` // hello, surface
	Resume  map[string]uint64 `json:"resume,omitempty"`  // hello: last seq seen per conversation
	Conv    string            `json:"conv,omitempty"`    // send, action, history, answer (share)
	To      string            `json:"to,omitempty"`      // send: a person id, for a 1:1 conversation
	Text    string            `json:"text,omitempty"`    // send
	App     string            `json:"app,omitempty"`     // open
	Payload string            `json:"payload,omitempty"` // open
	Action  *host.Action      `json:"action,omitempty"`  // action
	Prompt  string            `json:"prompt,omitempty"`  // answer
	Answer  string            `json:"answer,omitempty"`  // answer: one of the prompt kind's answers, or dismiss
	After   uint64            `json:"after,omitempty"`   // history
	Limit   int               `json:"limit,omitempty"`   // history, people, payments
	Title   string            `json:"title,omitempty"`   // group
	Members []string          `json:"members,omitempty"` // group
	Query   string            `json:"query,omitempty"`   // people
	Seq     uint64            `json:"seq,omitempty"`     // mark
	State   string            `json:"state,omitempty"`   // mark: delivered or read
	// Business and Purpose: revoke.
	Business string `json:"business,omitempty"`
	Purpose  string `json:"purpose,omitempty"`
}

const (
	maxIDBytes      = 64
	maxMembers      = 256
	maxFieldBytes   = 256
	maxResumeConvs  = 10000
	maxActionFields = 32
	maxAnswer       = 64 // bytes of an answer to a prompt
)

// ParseFrame parses and validates one client frame. maxText bounds the
// length of message text in runes. A returned error is an *Error whose code
// is bad_frame, unknown_type or bad_request; the frame's id, when it could
// be read, is in the returned Frame.
func ParseFrame(data []byte, maxText int) (*Frame, error) {
	if !utf8.Valid(data) {
		return nil, errorf(CodeBadFrame, "the frame is not valid UTF-8; send JSON text frames")
	}
	var f Frame
	if !decodeFlat(data, &f) {
		f = Frame{}
		if err := json.Unmarshal(data, &f); err != nil {
			return nil, errorf(CodeBadFrame, "the frame is not a valid JSON object: %v", err)
		}
	}
	if len(f.ID) > maxIDBytes {
		id := f.ID
		f.ID = ""
		return &f, errorf(CodeBadRequest, "id is %d bytes; use at most %d (got %.16q...)", len(id), maxIDBytes, id)
	}
	for _, s := range []string{f.Surface, f.Conv, f.To, f.App, f.Prompt, f.Answer, f.Title, f.Query, f.State, f.Business, f.Purpose} {
		if len(s) > maxFieldBytes {
			return &f, errorf(CodeBadRequest, "a field is %d bytes; names and ids are at most %d", len(s), maxFieldBytes)
		}
	}
	need := func(name, v string) error {
		if v == "" {
			return errorf(CodeBadRequest, "%s frames need a %q field", f.Type, name)
		}
		return nil
	}
	switch f.Type {
	case TypeHello:
		if len(f.Resume) > maxResumeConvs {
			return &f, errorf(CodeBadRequest, "resume names %d conversations; at most %d", len(f.Resume), maxResumeConvs)
		}
	case TypeSend:
		if f.Conv == "" && f.To == "" {
			return &f, errorf(CodeBadRequest, `send frames need "conv" (a conversation id) or "to" (a person id)`)
		}
		if f.Text == "" {
			return &f, errorf(CodeBadRequest, `send frames need a non-empty "text"`)
		}
		if n := utf8.RuneCountInString(f.Text); n > maxText {
			return &f, errorf(CodeBadRequest, "text is %d characters; at most %d", n, maxText)
		}
	case TypeOpen:
		return &f, need("app", f.App)
	case TypeAction:
		if err := need("conv", f.Conv); err != nil {
			return &f, err
		}
		if f.Action == nil || f.Action.ID == "" {
			return &f, errorf(CodeBadRequest, `action frames need "action":{"id":...}`)
		}
		if len(f.Action.Fields) > maxActionFields {
			return &f, errorf(CodeBadRequest, "the form has %d fields; at most %d", len(f.Action.Fields), maxActionFields)
		}
	case TypeAnswer:
		if err := need("prompt", f.Prompt); err != nil {
			return &f, err
		}
		// Which answers a prompt takes is its kind's business (host.PromptKind).
		if len(f.Answer) > maxAnswer {
			return &f, errorf(CodeBadRequest, "answer is %d bytes; at most %d", len(f.Answer), maxAnswer)
		}
		return &f, need("answer", f.Answer)
	case TypeHistory:
		return &f, need("conv", f.Conv)
	case TypeGroup:
		if len(f.Members) == 0 || len(f.Members) > maxMembers {
			return &f, errorf(CodeBadRequest, "a group needs 1 to %d other members", maxMembers)
		}
	case TypeSurface:
		return &f, need("surface", f.Surface)
	case TypeMark:
		if err := need("conv", f.Conv); err != nil {
			return &f, err
		}
		if f.State != MarkDelivered && f.State != MarkRead {
			return &f, errorf(CodeBadRequest, `mark frames need "state": "delivered" or "read"`)
		}
		if f.Seq == 0 {
			return &f, errorf(CodeBadRequest, `mark frames need "seq": the highest seq received or shown (1 or more)`)
		}
	case TypeTyping:
		return &f, need("conv", f.Conv)
	case TypeRevoke:
		return &f, need("business", f.Business)
	case TypeConversations, TypePeople, TypeApps, TypeWallet, TypePayments, TypeConsents:
	case "":
		return &f, errorf(CodeBadRequest, `the frame has no "type"`)
	default:
		return &f, errorf(CodeUnknownType, "unknown frame type %.32q; see PROTOCOL.md", f.Type)
	}
	return &f, nil
}

// decodeFlat decodes the common shape of a frame without reflection: an
// object, without whitespace, of distinct string fields of Frame named
// exactly as in their tags, whose values have no escapes or control
// characters (data is valid UTF-8). It reports false for anything else,
// which encoding/json then decodes; where it reports true, the result is
// what encoding/json gives (FuzzDecodeFlat checks this).
func decodeFlat(data []byte, f *Frame) bool {
	if len(data) < 2 || data[0] != '{' || data[len(data)-1] != '}' {
		return false
	}
	var seen uint16
	i := 1
	for {
		key, next, ok := flatString(data, i)
		if !ok || next >= len(data) || data[next] != ':' {
			return false
		}
		val, next, ok := flatString(data, next+1)
		if !ok || next >= len(data) {
			return false
		}
		var dst *string
		var bit uint16
		switch key {
		case "type":
			dst, bit = &f.Type, 1<<0
		case "id":
			dst, bit = &f.ID, 1<<1
		case "conv":
			dst, bit = &f.Conv, 1<<2
		case "to":
			dst, bit = &f.To, 1<<3
		case "text":
			dst, bit = &f.Text, 1<<4
		case "surface":
			dst, bit = &f.Surface, 1<<5
		case "app":
			dst, bit = &f.App, 1<<6
		case "payload":
			dst, bit = &f.Payload, 1<<7
		case "prompt":
			dst, bit = &f.Prompt, 1<<8
		case "answer":
			dst, bit = &f.Answer, 1<<9
		case "title":
			dst, bit = &f.Title, 1<<10
		case "query":
			dst, bit = &f.Query, 1<<11
		default:
			return false
		}
		if seen&bit != 0 {
			return false
		}
		seen |= bit
		*dst = val
		switch data[next] {
		case ',':
			i = next + 1
		case '}':
			return next == len(data)-1
		default:
			return false
		}
	}
}

// flatString reads a JSON string without escapes or control characters at
// data[i:], returning it and the index after its closing quote.
func flatString(data []byte, i int) (string, int, bool) {
	if i >= len(data) || data[i] != '"' {
		return "", 0, false
	}
	for j := i + 1; j < len(data); j++ {
		switch c := data[j]; {
		case c == '"':
			return string(data[i+1 : j]), j + 1, true
		case c == '\\' || c < 0x20:
			return "", 0, false
		}
	}
	return "", 0, false
}
