package convlog

import (
	"encoding/json"
	"strconv"

	"github.com/passerelle/passerelle/gateway/internal/jsonstr"
)

// AppendJSON appends s as encoding/json writes it.
func (s Sender) AppendJSON(b []byte) []byte {
	b = append(b, `{"kind":`...)
	b = jsonstr.Append(b, s.Kind)
	b = append(b, `,"id":`...)
	b = jsonstr.Append(b, s.ID)
	if s.Name != "" {
		b = append(b, `,"name":`...)
		b = jsonstr.Append(b, s.Name)
	}
	if s.Agent != "" {
		b = append(b, `,"agent":`...)
		b = jsonstr.Append(b, s.Agent)
	}
	return append(b, '}')
}

// encodeRecord is the stored form of m: JSON, as encoding/json writes it
// (a text message, the most frequent, without reflection).
func encodeRecord(m *Message) ([]byte, error) {
	if m.Msg.Card != nil || m.Basis != nil {
		return json.Marshal(m)
	}
	b := make([]byte, 0, 128+len(m.From.ID)+len(m.From.Name)+2*len(m.Msg.Text)+len(m.Client)+len(m.Surface))
	b = append(b, '{')
	if m.ID != "" {
		b = append(b, `"id":`...)
		b = jsonstr.Append(b, m.ID)
		b = append(b, ',')
	}
	b = append(b, `"time":`...)
	b = strconv.AppendInt(b, m.Time, 10)
	b = append(b, `,"from":`...)
	b = m.From.AppendJSON(b)
	b = append(b, `,"msg":{`...)
	if m.Msg.Text != "" {
		b = append(b, `"text":`...)
		b = jsonstr.Append(b, m.Msg.Text)
	}
	b = append(b, '}')
	if m.Client != "" {
		b = append(b, `,"cid":`...)
		b = jsonstr.Append(b, m.Client)
	}
	if m.Surface != "" {
		b = append(b, `,"surface":`...)
		b = jsonstr.Append(b, m.Surface)
	}
	return append(b, '}'), nil
}
