package identity

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"sync"
	"testing"
)

// Pseudonyms are stored by apps, so their derivation must never change:
// HMAC-SHA256 over "<len>:<part>;" per part, first 20 bytes, base32.
func TestPseudonymDerivationIsStable(t *testing.T) {
	s := &Service{secret: []byte("0123456789abcdef0123456789abcdef")}
	want := func(parts ...string) string {
		h := hmac.New(sha256.New, s.secret)
		for _, p := range parts {
			fmt.Fprintf(h, "%d:%s;", len(p), p)
		}
		return idEncoding.EncodeToString(h.Sum(nil)[:20])
	}
	cases := [][]string{
		{"openid", "m_acme", "lunch", "p_alice"},
		{"unionid", "m_acme", "p_alice"},
		{"openid", "", "", ""},
		{"openid", "m_é", "app:1;2", "p_" + string(make([]byte, 300))},
	}
	var wg sync.WaitGroup
	for i := range 8 { // concurrently, as events compute them
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, parts := range cases {
				if got, w := s.mac(parts...), want(parts...); got != w {
					t.Errorf("goroutine %d: mac(%q) = %s, want %s", i, parts, got, w)
				}
			}
		}()
	}
	wg.Wait()
	const golden = "g37hpk4g5umyanz3ai6sxlo53c2p447x" // computed outside Go
	if got := s.mac("openid", "m_acme", "lunch", "p_alice"); got != golden {
		t.Fatalf("mac = %s, want %s", got, golden)
	}
}
