package apps_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/passerelle/passerelle/runtime/apps"
)

// TestUploadsCompileOneAtATime checks that an upload waits while another
// one checks and compiles, that events are served meanwhile, and that
// concurrent uploads all complete.
func TestUploadsCompileOneAtATime(t *testing.T) {
	e := newEnv(t)
	e.upload(t, "m1", "shop", "1")
	ctx := context.Background()

	release := apps.HoldUploadSlot(e.router)
	if v, err := e.deliver(t, "shop", "p1", "c1", "hi"); err != nil || v != "1" {
		t.Fatalf("event while an upload compiles: version %q, %v", v, err)
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	_, _, err := e.router.Upload(short, "m1", "m1", "shop", module(t, "shop", "2"))
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "another upload") {
		t.Fatalf("upload while another compiles = %v, want it to wait until its context ends", err)
	}
	waiting := make(chan error, 1)
	go func() {
		_, _, err := e.router.Upload(ctx, "m1", "m1", "shop", module(t, "shop", "2"))
		waiting <- err
	}()
	release()
	if err := <-waiting; err != nil {
		t.Fatalf("upload after the other finished: %v", err)
	}

	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i := range 4 {
		wg.Go(func() {
			_, _, err := e.router.Upload(ctx, "m1", "m1", "shop", module(t, "shop", fmt.Sprint(3+i)))
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if a, err := e.reg.App("shop"); err != nil || len(a.Versions) != 6 {
		t.Fatalf("versions after the uploads: %+v, %v", a, err)
	}
}
