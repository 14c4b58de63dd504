package gateway

import (
	"context"
	"encoding/json"

	"github.com/passerelle/passerelle/gateway/readmarks"
)

// MarkStore keeps read markers: per person and conversation, the highest
// seq their clients have received and shown (readmarks.Store on bbolt).
// Without one, mark frames answer "unavailable" and conversation views
// carry no markers.
type MarkStore interface {
	// Set moves person's marker in conv forward to seq (readmarks.Delivered,
	// or readmarks.Read which moves both) and says whether it moved.
	Set(ctx context.Context, conv, person, state string, seq uint64) (readmarks.Marker, bool, error)
	// Of returns the markers of the conversations in convs that have any.
	Of(ctx context.Context, convs []string) (map[string][]readmarks.Marker, error)
}

// Marker states a client names in a mark frame.
const (
	MarkDelivered = readmarks.Delivered
	MarkRead      = readmarks.Read
)

// withMarkers fills in, for viewer, their own read seq and the other
// members' markers of each view.
func (s *Server) withMarkers(ctx context.Context, views []convView, viewer string) error {
	if s.cfg.Marks == nil || len(views) == 0 {
		return nil
	}
	ids := make([]string, len(views))
	for i, v := range views {
		ids[i] = v.ID
	}
	all, err := s.cfg.Marks.Of(ctx, ids)
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
	readmarks.Marker
}

// mark handles a client's mark frame: the person has received (delivered)
// or shown (read) conv up to seq, bounded by its last message. Every
// connection of every member hears of a move, the person's other devices
// included, so that their unread counts follow.
func (c *conn) mark(ctx context.Context, f *Frame) error {
	s := c.s
	if s.cfg.Marks == nil {
		return ErrUnavailable
	}
	rec, err := c.member(f.Conv)
	if err != nil {
		return err
	}
	_, last, err := s.msgs.Conv(ctx, f.Conv)
	if err != nil {
		return err
	}
	m, moved, err := s.setMark(ctx, f.Conv, c.person, f.State, min(f.Seq, last))
	if err != nil {
		return err
	}
	c.reply(ackFrame{Type: "ack", ID: f.ID, Conv: f.Conv, Seq: m.Read})
	if !moved {
		return nil
	}
	b, _ := json.Marshal(markFrame{Type: "mark", Conv: f.Conv, Marker: m})
	for _, p := range rec.Members {
		for _, pc := range s.connsOf(p) {
			pc.deliver(outFrame{data: b})
		}
	}
	return nil
}
