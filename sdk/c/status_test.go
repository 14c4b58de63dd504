//go:build !wasip1

package csdk_test

import (
	"os"
	"regexp"
	"strconv"
	"testing"

	"github.com/passerelle/passerelle/host"
)

// The C SDK's status codes are the host's: every status the host answers
// has its constant in passerelle.h with the same number, and its stable
// code in pl_status_code's table in the same place.
func TestStatusesMatchHost(t *testing.T) {
	h, err := os.ReadFile("include/passerelle.h")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("src/passerelle.c")
	if err != nil {
		t.Fatal(err)
	}
	consts := map[int]bool{}
	for _, m := range regexp.MustCompile(`PL_[A-Z_]+ = (\d+)`).FindAllSubmatch(h, -1) {
		n, _ := strconv.Atoi(string(m[1]))
		consts[n] = true
	}
	table := regexp.MustCompile(`(?s)status_codes\[\] = \{(.*?)\};`).FindSubmatch(src)
	if table == nil {
		t.Fatal("no status_codes table in src/passerelle.c")
	}
	var codes []string
	for _, m := range regexp.MustCompile(`"([a-z_]+)"`).FindAllSubmatch(table[1], -1) {
		codes = append(codes, string(m[1]))
	}
	for s := host.StatusOK; s.String() != "status_"+strconv.Itoa(int(s)) && s < 100; s++ {
		if !consts[int(s)] {
			t.Errorf("status %d (%s) has no constant in passerelle.h", s, s)
		}
		if int(s) >= len(codes) || codes[s] != s.String() {
			t.Errorf("status %d: pl_status_code's table says %q, the host %q", s, codeAt(codes, int(s)), s)
		}
	}
}

func codeAt(codes []string, i int) string {
	if i < len(codes) {
		return codes[i]
	}
	return "(missing)"
}
