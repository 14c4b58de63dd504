package identity

import (
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// IssueClaims signs, with the service's own key, the claims of a valid
// person token after mut changed them. Tests use it to forge tokens that
// only a claim check can refuse.
func (s *Service) IssueClaims(mut func(*Claims)) (string, error) {
	now := s.now()
	c := Claims{Role: RolePerson, RegisteredClaims: jwt.RegisteredClaims{
		Issuer: s.issuer, Subject: "p_mallory", Audience: jwt.ClaimStrings{s.audience},
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
	}}
	mut(&c)
	return jwt.NewWithClaims(jwt.SigningMethodEdDSA, c).SignedString(s.priv)
}
