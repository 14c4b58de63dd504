package apps

// HoldUploadSlot takes the slot an upload holds while it checks and
// compiles, as an upload in progress would, until release is called.
func HoldUploadSlot(r *Router) (release func()) {
	r.uploads <- struct{}{}
	return func() { <-r.uploads }
}
