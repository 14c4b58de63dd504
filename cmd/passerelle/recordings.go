package main

import (
	"context"
	"time"

	"github.com/passerelle/passerelle/runtime/replay"
)

// replayExpireEvery is how often the server removes recorded events past
// their retention.
const replayExpireEvery = 10 * time.Minute

// openRecordings opens the store of recorded events (runtime/replay) with
// the operator's retention (replay_retention; 0 records nothing and
// removes what an earlier run recorded) and starts removing expired
// events.
func (p *platform) openRecordings(cfg platformConfig) error {
	var err error
	p.recordings, err = replay.Open(p.db, replay.Config{Retention: time.Duration(cfg.ReplayRetention), Async: cfg.ReplayAsync,
		Errors: func(err error) { p.log.Error("record events", "err", err) }})
	if err != nil {
		return err
	}
	ctx, stop := context.WithCancel(context.Background())
	p.stopRecordings = func() {
		stop()
		p.recordings.Close() // the records still queued; later ones are written at once
	}
	p.goRun("replay-expiry", func() {
		p.recordings.Run(ctx, replayExpireEvery, func(err error) { p.log.Error("remove expired recorded events", "err", err) })
	})
	return nil
}
