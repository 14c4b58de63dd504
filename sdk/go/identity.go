package passerelle

// Profile fields a mini-app may ask for.
const (
	FieldName  = "name"  // needs the "identity.profile" permission and the person's consent
	FieldPhone = "phone" // needs the "identity.phone" permission and the person's consent
)

// Profile is what the person of the event shares with the app.
type Profile struct {
	User  string `json:"user"`  // the person's id in this app (the event's User)
	Union string `json:"union"` // the person's id across all apps of the same merchant
	Name  string `json:"name,omitempty"`
	Phone string `json:"phone,omitempty"`
}

// Profile asks for fields of the person's profile (FieldName when none is
// given), operation identity.profile. Until the person grants the scope it
// fails with an error matching ErrConsentRequired; the platform has then
// asked them, and the app can try again on a later event. Their answer
// arrives as a "consent" event (OnConsent) in the conversation of the call,
// so the app can carry on from there.
func (c *Context) Profile(fields ...string) (Profile, error) {
	if len(fields) == 0 {
		fields = []string{FieldName}
	}
	var p Profile
	err := c.call("identity.profile", importIdentityProfile, &struct {
		Fields []string `json:"fields"`
	}{fields}, &p)
	return p, err
}
