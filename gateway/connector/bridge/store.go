package bridge

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/host"
)

// Buckets the bridge keeps in the gateway's bbolt file.
var (
	bucketRoutes = []byte("bridge.routes") // conversation id -> route (JSON)
	bucketItems  = []byte("bridge.outbox") // item key (the message id) -> item (JSON)
	bucketQueue  = []byte("bridge.queue")  // connection id, 0, 8-byte BE queue seq -> item key: what is still to send
	bucketSent   = []byte("bridge.sent")   // network, 0, the network's message id -> item key
	bucketTokens = []byte("bridge.tokens") // a host prompt's reply token -> hostAnswer (JSON)
	bucketForms  = []byte("bridge.forms")  // conversation id -> formState (JSON)
	bucketSeen   = []byte("bridge.seen")   // conversation id -> when its person last wrote (8-byte BE unix ms)
	bucketEarly  = []byte("bridge.early")  // network, 0, the network's message id -> earlyStatus (JSON): a status that came before the send's answer was recorded
	allBuckets   = [][]byte{bucketRoutes, bucketItems, bucketQueue, bucketSent, bucketTokens, bucketForms, bucketSeen, bucketEarly, bucketOptins}
)

// route is a network conversation: which connection carries it, to whom.
type route struct {
	Conv     string `json:"conv"`
	Conn     string `json:"conn"`     // connection id
	Network  string `json:"network"`  // whatsapp, messenger, instagram
	To       string `json:"to"`       // wa_id, PSID or IGSID
	Person   string `json:"person"`   // platform person
	App      string `json:"app"`      // the connection's app
	Merchant string `json:"merchant"` // the connection's merchant
	// Handed is the highest seq of the conversation handed to the outbox:
	// on start, the app messages after it are handed again (a crash
	// between the store and the outbox loses none).
	Handed uint64 `json:"handed"`
	// LastSeq and LastAt are the last message sent (seq, unix ms), for
	// Messenger's read watermarks.
	LastSeq uint64 `json:"last_seq,omitempty"`
	LastAt  int64  `json:"last_at,omitempty"`
	// Delivered and Read are the highest seqs a Messenger watermark moved
	// the app's messages' states to (watermarkStates).
	Delivered uint64 `json:"delivered,omitempty"`
	Read      uint64 `json:"read,omitempty"`
}

// Item states.
const (
	StateQueued    = "queued"    // waiting for its turn (or for a retry)
	StateSending   = "sending"   // handed to the network; a crash here leaves it unknown
	StateUnknown   = "unknown"   // the network may have it: wait for a status before a resend
	StateSent      = "sent"      // the network answered with its id
	StateDelivered = "delivered" // the status webhook said delivered
	StateRead      = "read"      // the status webhook said read
	StateFailed    = "failed"    // refused for good (Class, Code say why)
)

// rank orders the states a message moves through once sent: a status
// never moves it back (read implies delivered; they may come in any order).
func rank(s string) int {
	switch s {
	case StateSent:
		return 1
	case StateDelivered:
		return 2
	case StateRead:
		return 3
	case StateFailed:
		return 4
	}
	return 0
}

// item is one message in the outbox of a connection. Its key is the
// message's id, which is also the idempotency key: an item is sent at most
// once unless the network's answer was lost and no status ever named it.
type item struct {
	Key     string `json:"key"`
	Conn    string `json:"conn"`
	Network string `json:"network"`
	To      string `json:"to"`
	Person  string `json:"person"`
	Conv    string `json:"conv,omitempty"`
	Seq     uint64 `json:"seq,omitempty"` // the message's seq in Conv; 0 for what the host sends outside it
	App     string `json:"app,omitempty"`
	Merch   string `json:"merchant,omitempty"`

	Msg  *host.Message `json:"msg,omitempty"`  // an app's message
	Host *hostMsg      `json:"host,omitempty"` // or a host's: a prompt, a question, a notice
	// Basis is the consent an app's business-initiated message rests on
	// (chat.notify's purpose or template and params); nil for the rest.
	Basis *host.Basis `json:"basis,omitempty"`
	// Agent is the member of staff who wrote the message in the merchant
	// inbox ("" for the app's own).
	Agent string `json:"agent,omitempty"`
	// AsTemplate: WhatsApp refused the message as free-form text (131047);
	// it goes again as the template its Basis names.
	AsTemplate bool `json:"as_template,omitempty"`
	// Prev is the network id of the free-form send WhatsApp accepted and
	// then failed with 131047, before the item went as its template: its
	// statuses still name the item (and move nothing); prune forgets it.
	Prev string `json:"prev,omitempty"`

	State    string `json:"state"`
	Attempts int    `json:"attempts,omitempty"`
	NextAt   int64  `json:"next_at,omitempty"` // unix ms: not before (a retry, an unknown outcome's wait)
	QSeq     uint64 `json:"qseq"`              // its place in the queue
	ID       string `json:"id,omitempty"`      // the network's message id
	Class    string `json:"class,omitempty"`
	Code     int    `json:"code,omitempty"`
	Error    string `json:"error,omitempty"`
	Created  int64  `json:"created"`
}

// hostMsg is a message the host draws: text and, for a prompt, answers.
type hostMsg struct {
	Text    string       `json:"text"`
	Buttons []hostButton `json:"buttons,omitempty"`
	// Form, when set, starts the question-by-question form of Conv
	// before Text (the first question) is sent.
	Form *formState `json:"form,omitempty"`
	// Optin, when set, draws the prompt as Messenger's opt-in request for
	// notification messages instead of text and buttons.
	Optin *hostOptin `json:"optin,omitempty"`
}

// hostOptin is a Messenger opt-in request: the topic's title and the
// host's token, which the opt-in webhook carries back as its payload.
type hostOptin struct {
	Title string `json:"title"`
	Token string `json:"token"`
}

// hostAnswer is what a host prompt's reply token stands for.
type hostAnswer struct {
	Prompt  string `json:"prompt"`
	Answer  string `json:"answer"`
	Person  string `json:"person"`
	Conv    string `json:"conv"`
	Created int64  `json:"created"` // unix ms
	// Purpose and Text: a Messenger opt-in request drawn for a subscribe
	// prompt (the token is its payload): the purpose asked for and the
	// prompt's words.
	Purpose string `json:"purpose,omitempty"`
	Text    string `json:"text,omitempty"`
}

func queueKey(conn string, seq uint64) []byte {
	k := append([]byte(conn), 0)
	return binary.BigEndian.AppendUint64(k, seq)
}

func sentKey(network, id string) []byte { return append(append([]byte(network), 0), id...) }

func getItem(tx *bbolt.Tx, key string) (*item, error) {
	v := tx.Bucket(bucketItems).Get([]byte(key))
	if v == nil {
		return nil, nil
	}
	var it item
	if err := json.Unmarshal(v, &it); err != nil {
		return nil, fmt.Errorf("bridge: outbox item %q: %w", key, err)
	}
	return &it, nil
}

func putJSON(b *bbolt.Bucket, key []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, raw)
}

// enqueue stores it in the outbox and the queue of its connection, unless
// an item with its key exists (added reports which).
func enqueue(tx *bbolt.Tx, it *item) (added bool, err error) {
	items := tx.Bucket(bucketItems)
	if items.Get([]byte(it.Key)) != nil {
		return false, nil
	}
	q := tx.Bucket(bucketQueue)
	seq, err := q.NextSequence()
	if err != nil {
		return false, err
	}
	it.QSeq, it.State = seq, StateQueued
	if err := putJSON(items, []byte(it.Key), it); err != nil {
		return false, err
	}
	return true, q.Put(queueKey(it.Conn, seq), []byte(it.Key))
}

// dequeue removes it from its connection's queue (it stays in the outbox).
func dequeue(tx *bbolt.Tx, it *item) error {
	return tx.Bucket(bucketQueue).Delete(queueKey(it.Conn, it.QSeq))
}

// queued returns up to limit items of conn's queue, in order.
func queued(tx *bbolt.Tx, conn string, limit int) ([]*item, error) {
	prefix := append([]byte(conn), 0)
	c := tx.Bucket(bucketQueue).Cursor()
	var out []*item
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(out) < limit; k, v = c.Next() {
		it, err := getItem(tx, string(v))
		if err != nil {
			return nil, err
		}
		if it == nil {
			continue
		}
		out = append(out, it)
	}
	return out, nil
}

// queueConns lists the connections with a non-empty queue.
func queueConns(tx *bbolt.Tx) []string {
	var out []string
	c := tx.Bucket(bucketQueue).Cursor()
	for k, _ := c.First(); k != nil; {
		i := bytes.IndexByte(k, 0)
		if i < 0 {
			k, _ = c.Next()
			continue
		}
		conn := string(k[:i])
		out = append(out, conn)
		k, _ = c.Seek(append([]byte(conn), 1))
	}
	return out
}

func getRoute(tx *bbolt.Tx, conv string) (*route, error) {
	v := tx.Bucket(bucketRoutes).Get([]byte(conv))
	if v == nil {
		return nil, nil
	}
	var r route
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, fmt.Errorf("bridge: route %q: %w", conv, err)
	}
	return &r, nil
}

// prune forgets what the outbox no longer needs: items that reached a
// final state (sent, delivered, read, failed) more than keep ago, with
// their network ids, and host prompt tokens minted more than keep ago. It
// deletes at most limit entries and reports how many.
func prune(tx *bbolt.Tx, before int64, limit int) (int, error) {
	n := 0
	items, sent := tx.Bucket(bucketItems), tx.Bucket(bucketSent)
	var keys [][]byte
	var ids [][]byte
	c := items.Cursor()
	for k, v := c.First(); k != nil && len(keys) < limit; k, v = c.Next() {
		var it item
		if json.Unmarshal(v, &it) != nil {
			continue
		}
		if it.Created >= before || rank(it.State) == 0 {
			continue // recent, or not settled yet (queued, sending, unknown)
		}
		keys = append(keys, bytes.Clone(k))
		if it.ID != "" {
			ids = append(ids, sentKey(it.Network, it.ID))
		}
		if it.Prev != "" {
			ids = append(ids, sentKey(it.Network, it.Prev))
		}
	}
	for _, k := range keys {
		if err := items.Delete(k); err != nil {
			return n, err
		}
		n++
	}
	for _, k := range ids {
		if err := sent.Delete(k); err != nil {
			return n, err
		}
	}
	early := tx.Bucket(bucketEarly)
	var stale [][]byte
	ec := early.Cursor()
	for k, v := ec.First(); k != nil && len(stale) < limit; k, v = ec.Next() {
		var es earlyStatus
		if json.Unmarshal(v, &es) != nil || es.At < before {
			stale = append(stale, bytes.Clone(k)) // a status of a message this outbox never sent
		}
	}
	for _, k := range stale {
		if err := early.Delete(k); err != nil {
			return n, err
		}
		n++
	}
	tokens := tx.Bucket(bucketTokens)
	var old [][]byte
	tc := tokens.Cursor()
	for k, v := tc.First(); k != nil && len(old) < limit; k, v = tc.Next() {
		var ha hostAnswer
		if json.Unmarshal(v, &ha) == nil && ha.Created < before {
			old = append(old, bytes.Clone(k))
		}
	}
	for _, k := range old {
		if err := tokens.Delete(k); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
