package identity

import (
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/passerelle/passerelle/host"
)

// Roles a token may carry.
const (
	RolePerson   = "person"
	RoleMerchant = "merchant"
	RoleOperator = "operator"
)

// MaxTTL is the longest lifetime Issue accepts.
const MaxTTL = 90 * 24 * time.Hour

// Claims are the claims of a session token.
type Claims struct {
	Role string `json:"role"`
	jwt.RegisteredClaims
}

func validRole(r string) bool { return r == RolePerson || r == RoleMerchant || r == RoleOperator }

// Issue signs a token for subject (a person or merchant id, or an operator
// name) with role, valid from now for ttl.
func (s *Service) Issue(subject, role string, ttl time.Duration) (string, error) {
	if subject == "" {
		return "", host.Wrapf(ErrInvalid, "empty subject; say whom the token is for")
	}
	if !validRole(role) {
		return "", host.Wrapf(ErrInvalid, "role %q; use person, merchant or operator", role)
	}
	if ttl <= 0 || ttl > MaxTTL {
		return "", host.Wrapf(ErrInvalid, "ttl %s; give a lifetime between 1s and %s", ttl, MaxTTL)
	}
	now := s.now().Truncate(time.Second)
	c := Claims{
		Role: role,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    s.issuer,
			Subject:   subject,
			Audience:  jwt.ClaimStrings{s.audience},
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
			ID:        newID(""),
		},
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c).SignedString(s.priv)
	if err != nil {
		return "", fmt.Errorf("identity: sign token: %w", err)
	}
	return tok, nil
}

// Verify checks a token and returns its subject and role. It is the
// Authenticator the gateway and the merchant API use.
func (s *Service) Verify(token string) (subject, role string, err error) {
	c, err := s.ParseToken(token)
	if err != nil {
		return "", "", err
	}
	return c.Subject, c.Role, nil
}

// ParseToken checks a token and returns its claims: the algorithm must be
// EdDSA and the signature the service's; issuer and audience must match;
// the expiry must be present and in the future; not-before, if present, in
// the past. A refusal wraps ErrInvalidToken with the reason and is logged.
func (s *Service) ParseToken(token string) (*Claims, error) {
	var c Claims
	_, err := jwt.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		if _, ok := t.Method.(*jwt.SigningMethodEd25519); !ok {
			return nil, fmt.Errorf("algorithm %v is not accepted", t.Header["alg"])
		}
		return ed25519.PublicKey(s.pub), nil
	},
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(s.issuer),
		jwt.WithAudience(s.audience),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(s.now),
		jwt.WithLeeway(5*time.Second),
	)
	if err == nil && !validRole(c.Role) {
		err = fmt.Errorf("unknown role %q", c.Role)
	}
	if err == nil && c.Subject == "" {
		err = fmt.Errorf("no subject")
	}
	if err != nil {
		s.log.Warn("token refused", "reason", err.Error(), "subject", c.Subject)
		return nil, host.Wrapf(ErrInvalidToken, "%v; sign in again to get a new token", err)
	}
	return &c, nil
}
