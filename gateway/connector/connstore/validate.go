package connstore

import (
	"fmt"

	"github.com/passerelle/passerelle/gateway/connector"
)

// Networks are the networks a merchant can connect, in the order shown.
var Networks = []string{connector.NetworkWhatsApp, connector.NetworkMessenger, connector.NetworkInstagram}

// accountName says what a network's account id is and where Meta shows it.
var accountName = map[string]string{
	connector.NetworkWhatsApp:  "phone number id (WhatsApp Manager or the app dashboard's WhatsApp API setup: \"Phone number ID\", not the phone number)",
	connector.NetworkMessenger: "Facebook Page id (the Page's About section, or GET /me?fields=id with the Page token)",
	connector.NetworkInstagram: "Instagram professional account id (GET /me?fields=user_id with the Instagram token, or the app dashboard's Instagram API setup)",
}

// Limits on what is stored. Meta's tokens are a few hundred characters;
// app secrets are 32 hex digits.
const (
	maxAccount = 64
	maxApp     = 128
	maxToken   = 4096
	maxSecret  = 256
)

// Validate checks a connection before it is stored: a known network, the
// account id as Meta writes it (digits), an app, the merchant, and the
// secrets that network needs (the access token and the app secret always;
// the verify token on WhatsApp, where the webhook is configured per app;
// on Messenger and Instagram it can be set later, and until then the GET
// verification is refused). The errors wrap ErrInvalid and never quote a
// secret.
func Validate(c connector.Connection) error {
	name, ok := accountName[c.Network]
	if !ok {
		return fmt.Errorf("%w: network %q is not one of whatsapp, messenger, instagram", ErrInvalid, c.Network)
	}
	if c.Merchant == "" {
		return fmt.Errorf("%w: no merchant", ErrInvalid)
	}
	switch {
	case c.Account == "":
		return fmt.Errorf("%w: account is empty; give the %s", ErrInvalid, name)
	case len(c.Account) > maxAccount || !digits(c.Account):
		return fmt.Errorf("%w: account %.80q is not a %s: Meta's ids are digits only", ErrInvalid, c.Account, name)
	}
	if c.App == "" || len(c.App) > maxApp {
		return fmt.Errorf("%w: app must name one of your apps (the id in its manifest), up to %d characters", ErrInvalid, maxApp)
	}
	if c.Secrets.AccessToken == "" {
		return fmt.Errorf("%w: access_token is empty; give the %s", ErrInvalid, tokenName(c.Network))
	}
	if c.Secrets.AppSecret == "" {
		return fmt.Errorf("%w: app_secret is empty; copy it from the Meta app dashboard (App settings, Basic): it signs the webhooks", ErrInvalid)
	}
	if c.Network == connector.NetworkWhatsApp && c.Secrets.VerifyToken == "" {
		return fmt.Errorf("%w: verify_token is empty; choose one and type it in the app dashboard's WhatsApp webhook configuration with the callback URL", ErrInvalid)
	}
	for f, v := range map[string]string{FieldAccessToken: c.Secrets.AccessToken, FieldAppSecret: c.Secrets.AppSecret, FieldVerifyToken: c.Secrets.VerifyToken} {
		if v == "" {
			continue
		}
		if err := validSecret(f, v); err != nil {
			return err
		}
	}
	return nil
}

func tokenName(network string) string {
	switch network {
	case connector.NetworkWhatsApp:
		return "access token of a system user with whatsapp_business_messaging (Business settings, System users)"
	case connector.NetworkMessenger:
		return "Page access token (the app dashboard's Messenger API settings, or GET /me/accounts)"
	}
	return "Instagram access token with instagram_business_manage_messages (the app dashboard's Instagram API setup)"
}

// validSecret checks a secret's shape: printable ASCII without spaces,
// within its size. The error names the field and what is wrong, never the
// value.
func validSecret(field, v string) error {
	max := maxSecret
	if field == FieldAccessToken {
		max = maxToken
	}
	if len(v) > max {
		return fmt.Errorf("%w: %s is %d bytes, over %d; check that the file holds only the %s", ErrInvalid, field, len(v), max, field)
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c <= ' ' || c >= 0x7f {
			return fmt.Errorf("%w: %s has a space, a line break or a character outside printable ASCII at byte %d; Meta's tokens and secrets have none (check the file for a stray newline or quote)", ErrInvalid, field, i+1)
		}
	}
	return nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
