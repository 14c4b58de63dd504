package gateway

import (
	"encoding/json"
	"strconv"

	"github.com/passerelle/passerelle/gateway/internal/jsonstr"
	"github.com/passerelle/passerelle/gateway/surface"
	"github.com/passerelle/passerelle/host"
)

// encodeAckMsg is the ack of a send carrying the message as stored.
func encodeAckMsg(id, conv string, seq uint64, msg []byte) []byte {
	b := make([]byte, 0, len(msg)+len(id)+len(conv)+64)
	b = append(b, `{"type":"ack","id":`...)
	b = jsonstr.Append(b, id)
	b = append(b, `,"conv":`...)
	b = jsonstr.Append(b, conv)
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `,"msg":`...)
	b = append(b, msg...)
	return append(b, '}')
}

// encodeGap tells a client to fetch the messages of conv after g.after, up
// to g.last, with history.
func encodeGap(conv string, g gap) []byte {
	b := append(jsonstr.Append([]byte(`{"type":"gap","conv":`), conv), `,"after":`...)
	b = append(strconv.AppendUint(b, g.after, 10), `,"last":`...)
	return append(strconv.AppendUint(b, g.last, 10), '}')
}

func surfaceIndex(n surface.Name) int {
	switch n {
	case surface.WhatsApp:
		return 1
	case surface.Messenger:
		return 2
	case surface.Instagram:
		return 3
	}
	return 0
}

// msgFrame is a delivery: one message of a conversation, with its rendering
// for the recipient's surface.
type msgFrame struct {
	Type   string           `json:"type"` // "msg"
	Conv   string           `json:"conv"`
	Seq    uint64           `json:"seq"`
	ID     string           `json:"id,omitempty"` // an app's message: the id chat.send answered
	Time   int64            `json:"time"`
	From   sender           `json:"from"`
	Msg    host.Message     `json:"message"`
	Render surface.Rendered `json:"render"`
	CID    string           `json:"cid,omitempty"`
}

func encodeMsg(conv string, m *msgRecord, sf surface.Name) []byte {
	if m.Msg.Card == nil { // a text message: most of them, encoded without reflection
		b := make([]byte, 0, 256+len(conv)+len(m.From.ID)+len(m.From.Name)+2*len(m.Msg.Text)+len(m.Client))
		b = append(b, `{"type":"msg","conv":`...)
		b = jsonstr.Append(b, conv)
		b = append(b, `,"seq":`...)
		b = strconv.AppendUint(b, m.Seq, 10)
		if m.ID != "" {
			b = append(b, `,"id":`...)
			b = jsonstr.Append(b, m.ID)
		}
		b = append(b, `,"time":`...)
		b = strconv.AppendInt(b, m.Time, 10)
		b = append(b, `,"from":`...)
		b = m.From.AppendJSON(b)
		b = append(b, `,"message":{`...)
		if m.Msg.Text != "" {
			b = append(b, `"text":`...)
			b = jsonstr.Append(b, m.Msg.Text)
		}
		b = append(b, `},"render":{"surface":`...)
		b = jsonstr.Append(b, string(sf))
		b = append(b, `,"kind":"`+surface.KindText+`"`...)
		if m.Msg.Text != "" {
			b = append(b, `,"text":`...)
			b = jsonstr.Append(b, m.Msg.Text)
		}
		b = append(b, '}')
		if m.Client != "" {
			b = append(b, `,"cid":`...)
			b = jsonstr.Append(b, m.Client)
		}
		return append(b, '}')
	}
	b, _ := json.Marshal(msgFrame{Type: "msg", Conv: conv, Seq: m.Seq, ID: m.ID, Time: m.Time, From: m.From,
		Msg: m.Msg, Render: surface.Render(sf, m.Msg), CID: m.Client})
	return b
}
