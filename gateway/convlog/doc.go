// Package convlog is the conversation log on bbolt: conversations and who
// is in them, every message in one append-only log with a gap-free
// sequence per conversation, the client ids of recent messages (resends are
// recognised for a time, across restarts), and the group commit that
// writes them. The gateway uses it through a small interface of its own
// (gateway.Log); a replicated log (NATS JetStream: a stream per
// conversation subject, a key-value bucket for the metadata and client ids)
// would implement the same interface.
//
// # Storage
//
// The log owns the buckets gateway.convs, gateway.log, gateway.heads,
// gateway.marks, gateway.inbox (person, 0, conversation) and
// gateway.dedupe.
//
// Messages of every conversation go to one append-only log (gateway.log,
// keyed by a global big-endian sequence), so that a commit of messages in
// many conversations writes a few pages at the log's end rather than one
// page per conversation. Each entry names its conversation and seq and
// points to the conversation's previous entry; gateway.heads holds each
// conversation's newest seq and entry, and gateway.marks (conversation id,
// 0, big-endian seq) the entry of every 64th seq, so a conversation is read
// from any seq without scanning it.
//
// # Commits
//
// Appends go through one bolt.Committer: it takes every append waiting
// when the previous commit returned and writes them in one transaction
// (group commit, no timer). Append returns once that transaction is
// committed; AppendAsync returns at once and calls back after the commit,
// on the goroutine that committed, so an app's instance can serve its next
// event while its message is written. Close waits for every accepted
// append. AppendWith writes more in the transaction that stores the
// message (the event a person's message causes, kept until consumed).
//
// AppendTx appends inside a transaction of the caller (an app event's,
// which commits the message with the event's other effects), with the same
// guarantees: the seq follows the conversation's head as that transaction
// sees it, the client id is checked and remembered in it, and the log keeps
// nothing in memory about the append, so a transaction that rolls back
// leaves no trace and the next append takes the same seq. bbolt runs one
// write transaction at a time, so AppendTx and the group commit take turns.
//
// # Resends
//
// A message with a client id is checked, in the transaction that would
// store it, against the ids its sender used in that conversation within
// Config.DedupeWindow (24 hours by default): a resend gets the earlier
// message's seq and nothing is stored. The ids are kept in gateway.dedupe;
// every append that remembers an id looks at a few more, in turn, and
// forgets the expired ones, so the bucket does not grow beyond about a
// window's worth.
package convlog
