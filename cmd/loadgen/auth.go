package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const audience = "passerelle-loadgen"

// mint returns an HS256 person token for the bench server.
func mint(secret []byte, person string) (string, error) {
	now := time.Now()
	return jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": person, "role": "person", "aud": audience,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}).SignedString(secret)
}

// hsAuth verifies mint's tokens (the bench server only; the real server
// verifies Ed25519 tokens from the identity service).
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
