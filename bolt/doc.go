// Package bolt holds what the platform builds on bbolt that more than one
// store needs: above all group commit (Committer), which every store that
// writes on the hot path uses, the host services (pay, kv, timer) and the
// gateway's conversation log and prompt store alike, so that one mechanism
// decides how writes to the one database share transactions and fsyncs;
// and two small helpers, CreateBuckets and Key (keys of parts that sort
// together).
//
// The package is named after what it wraps (go.etcd.io/bbolt), like the
// adapters of Ben Johnson's wtf (sqlite/, http/): the stores themselves stay
// with their domains (host/pay, gateway/convlog); only the machinery they
// share lives here.
//
// # One queue per database
//
// bbolt commits one write transaction at a time per database, so a queue
// per store would only take turns: the person's message (gateway/convlog),
// the event's effects (runtime/apps), a consent touch, a conversation's pin
// would each wait for the others' commits and fsync on their own. Every
// Committer of one *bbolt.DB therefore queues in that database's one queue:
// a group holds whatever any store queued, each job judged by its own
// Committer's Config (its refusals; its MaxGroup bounds its own jobs in a
// transaction). Closing one
// Committer refuses its jobs only. The queue is found by the database's
// pointer and forgotten once the database is unreachable.
//
// # How a group forms
//
// The first caller to find no commit running becomes the leader and commits
// everything queued, round after round, at most Config.MaxGroup jobs per
// transaction. Once its own job is done it hands the lead to the oldest
// waiting caller, so no caller commits for others forever. There is no
// timer: a lone job commits at once, and under load a group is whatever
// arrived during the previous commit (unlike bbolt's Batch, which waits
// MaxBatchDelay for company).
//
// A job queued with Go does not wait: when no commit is running, the
// Committer starts a goroutine of its own to lead, and calls the job's then
// after its transaction. Close waits for every job it accepted. A then runs
// on whichever goroutine leads, which may be a caller of Do on another
// store of the same database: it must not wait for a commit.
//
// # Rules for jobs
//
// A job may run more than once (a group that fails is retried one job at a
// time), so it must only write through tx and must reset any result it
// captures at its start. A job that refuses with one of the Committer's
// refusal errors must do so before writing anything: a refusal does not roll
// back the rest of the group. Any other error rolls the whole group back,
// and every job of it then runs again in a transaction of its own, so one
// job's failure never fails another.
package bolt
