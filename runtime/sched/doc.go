// Package sched shares a fixed set of workers among the apps of a server,
// so that one busy or hostile app cannot make the others wait.
//
// # Queues
//
// Each app has its own queue of at most Config.Queue waiting jobs. Submit
// never blocks: a job for an app whose queue is full is refused with
// ErrQueueFull at once, and the caller tells whoever asked. Inside an
// app's queue, jobs are grouped by key (a conversation): the jobs of one
// key run one at a time, in the order they were submitted, so that the
// events of a conversation reach the app in order.
//
// # Shares
//
// An app runs at most Config.PerApp jobs at once (its instance pool: more
// would only wait for an instance while holding a worker), and, when more
// apps have work than the workers can give PerApp each, at most Workers
// divided by the number of apps with work. A job that loops until its
// deadline therefore holds only its app's share of the workers; the other
// apps' jobs start on the rest.
//
// A job holds its app's share only while its guest runs: the router's
// job releases it (Job's release) as soon as the instance is back in its
// pool, and then waits, still on its worker and still holding its
// conversation, for the store to take what the event sent. Holding the
// share through that wait would bound an app to PerApp events per commit
// (about 2,000 a second for the echo app under load, against 7,000 with
// the release, unpaced; BENCHMARKS.md, "Through the real platform").
//
// Workers are not processors: guest code holds its processor until it
// returns. An app that Config.Slow reports (its events run into their
// deadline) runs one job at a time, and all such apps together at most
// Config.SlowSlots (GOMAXPROCS-1 by default), so that one processor stays
// free for everyone else.
//
// # Turns
//
// The apps that may start a job take turns (round-robin): a worker takes
// one job of the app at the front and, if that app may start more, puts it
// at the back. Within an app, the ready conversations take turns the same
// way.
//
// # Lifecycle
//
// New starts Config.Workers goroutines; Close refuses new jobs, drops the
// waiting ones, cancels the context of the running ones and waits for the
// workers to stop.
package sched
