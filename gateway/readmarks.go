package gateway

import (
	"bytes"
	"encoding/binary"
	"encoding/json"

	"go.etcd.io/bbolt"
)

// Read markers: for every member of a conversation, the highest seq its
// clients have received (delivered) and shown (read). They are kept here,
// not in a client, so that unread counts are right on every device and
// after every reload, and so that a sender sees its messages delivered and
// read. Markers only move forward and never past the conversation's last
// message; read implies delivered.

// bucketReadMarks holds conv 0 person -> delivered, read (8+8 bytes BE).
var bucketReadMarks = []byte("gateway.readmarks")

// Marker states a client sets with a mark frame.
const (
	MarkDelivered = "delivered"
	MarkRead      = "read"
)

// marker is one member's position in a conversation.
type marker struct {
	Person    string `json:"person"`
	Delivered uint64 `json:"delivered"`
	Read      uint64 `json:"read"`
}

func decodeMarker(person string, v []byte) marker {
	m := marker{Person: person}
	if len(v) == 16 {
		m.Delivered, m.Read = binary.BigEndian.Uint64(v), binary.BigEndian.Uint64(v[8:])
	}
	return m
}

// setMark moves person's marker in conv forward to seq (delivered, or read
// and delivered). It returns the marker and whether it moved.
func (s *store) setMark(conv, person, state string, seq uint64) (m marker, moved bool, err error) {
	key := pkey(conv, person)
	// Most marks repeat what is stored (another device got there first):
	// a read transaction answers them without a write.
	err = s.db.View(func(tx *bbolt.Tx) error {
		m = decodeMarker(person, tx.Bucket(bucketReadMarks).Get(key))
		return nil
	})
	if err != nil || m.Delivered >= seq && (state != MarkRead || m.Read >= seq) {
		return m, false, err
	}
	err = s.db.Batch(func(tx *bbolt.Tx) error { // may run again: computed afresh each time
		b := tx.Bucket(bucketReadMarks)
		m = decodeMarker(person, b.Get(key))
		old := m
		if state == MarkRead {
			m.Read = max(m.Read, seq)
		}
		m.Delivered = max(m.Delivered, seq, m.Read)
		moved = m != old
		if !moved {
			return nil
		}
		v := binary.BigEndian.AppendUint64(make([]byte, 0, 16), m.Delivered)
		return b.Put(key, binary.BigEndian.AppendUint64(v, m.Read))
	})
	return m, moved, err
}

// markers returns the markers of every conversation in convs that has any,
// in one read transaction.
func (s *store) markers(convs []string) (map[string][]marker, error) {
	out := map[string][]marker{}
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketReadMarks).Cursor()
		for _, conv := range convs {
			prefix := pkey(conv, "")
			for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
				out[conv] = append(out[conv], decodeMarker(string(k[len(prefix):]), v))
			}
		}
		return nil
	})
	return out, err
}

// withMarkers fills in, for viewer, their own read seq and the other
// members' markers of each view.
func (s *Server) withMarkers(views []convView, viewer string) error {
	ids := make([]string, len(views))
	for i, v := range views {
		ids[i] = v.ID
	}
	all, err := s.st.markers(ids)
	if err != nil {
		return err
	}
	for i := range views {
		for _, m := range all[views[i].ID] {
			if m.Person == viewer {
				views[i].Read = m.Read
			} else {
				views[i].Marks = append(views[i].Marks, m)
			}
		}
	}
	return nil
}

// markFrame tells the members' clients that a member's marker moved.
type markFrame struct {
	Type string `json:"type"` // "mark"
	Conv string `json:"conv"`
	marker
}

// mark handles a client's mark frame: the person has received (delivered)
// or shown (read) conv up to seq. Every connection of every member hears
// of it, the person's other devices included, so that their unread counts
// follow.
func (c *conn) mark(f *Frame) error {
	s := c.s
	rec, err := c.member(f.Conv)
	if err != nil {
		return err
	}
	_, last, err := s.st.conv(f.Conv)
	if err != nil {
		return err
	}
	m, moved, err := s.st.setMark(f.Conv, c.person, f.State, min(f.Seq, last))
	if err != nil {
		return err
	}
	c.reply(ackFrame{Type: "ack", ID: f.ID, Conv: f.Conv, Seq: m.Read})
	if !moved {
		return nil
	}
	b, _ := json.Marshal(markFrame{Type: "mark", Conv: f.Conv, marker: m})
	for _, p := range rec.Members {
		for _, pc := range s.connsOf(p) {
			pc.deliver(outFrame{data: b})
		}
	}
	return nil
}
