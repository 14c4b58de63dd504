package main

import (
	"context"
	"time"
)

// What became of apps' messages (gateway/msgstate) is kept statesKeep
// after a message's last move, for GET /v1/apps/{app}/messages/{id}; the
// figures stay.
const (
	statesKeep       = 30 * 24 * time.Hour
	statesPruneEvery = time.Hour
)

// pruneStates forgets messages' states older than statesKeep, hourly,
// until the returned function is called.
func (p *platform) pruneStates() func() {
	ctx, stop := context.WithCancel(context.Background())
	p.goRun("message-states-expiry", func() {
		t := time.NewTicker(statesPruneEvery)
		defer t.Stop()
		for {
			for {
				n, err := p.states.Prune(ctx, time.Now().Add(-statesKeep), 1000)
				if err != nil {
					p.log.Error("forget old message states", "err", err)
				}
				if err != nil || n < 1000 {
					break
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
	return stop
}
