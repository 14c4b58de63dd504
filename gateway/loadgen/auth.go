package loadgen

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const audience = "passerelle-loadgen"

// Mint returns an HS256 person token that the gateway-only server started
// with the same secret accepts. The real platform's tokens come from its
// identity service instead (see Options.Tokens).
func Mint(secret []byte, person string) (string, error) {
	now := time.Now()
	return jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": person, "role": "person", "aud": audience,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}).SignedString(secret)
}

// hsAuth verifies Mint's tokens (the gateway-only server only).
type hsAuth struct{ secret []byte }

func (a hsAuth) Verify(tok string) (string, string, error) {
	t, err := jwt.Parse(tok, func(*jwt.Token) (any, error) { return a.secret, nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithAudience(audience), jwt.WithExpirationRequired())
	if err != nil {
		return "", "", err
	}
	c, ok := t.Claims.(jwt.MapClaims)
	if !ok {
		return "", "", errors.New("unexpected claims")
	}
	sub, _ := c["sub"].(string)
	role, _ := c["role"].(string)
	if sub == "" {
		return "", "", fmt.Errorf("token has no subject")
	}
	return sub, role, nil
}
