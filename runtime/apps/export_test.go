package apps

// HoldUploadSlot takes the slot an upload holds while it checks and
// compiles, as an upload in progress would, until release is called.
func HoldUploadSlot(r *Router) (release func()) {
	r.uploads <- struct{}{}
	return func() { <-r.uploads }
}

// SetCrashHook makes r call hook at each step of an event's commit:
// "before-commit" (the guest returned, nothing is written yet),
// "after-commit" (the store transaction committed, no Committed hook ran)
// and "committed-hook" (the first Committed hook ran). A hook that panics
// stands for a process that died there.
func SetCrashHook(r *Router, hook func(stage string)) { r.crash = hook }
