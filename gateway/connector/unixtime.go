package connector

import (
	"encoding/json"
	"math"
	"strconv"
)

// UnixTime is a time in a webhook payload that Meta sends as a string of
// digits (WhatsApp, seconds) or a number (Messenger, milliseconds);
// anything else, a fraction or a number out of range reads as 0 rather
// than failing the whole notification.
type UnixTime int64

// UnmarshalJSON reads a number or a string of digits.
func (t *UnixTime) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) != nil {
		s = string(b)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || math.IsNaN(f) || math.Abs(f) > 1<<62 {
			f = 0
		}
		n = int64(f)
	}
	*t = UnixTime(n)
	return nil
}
