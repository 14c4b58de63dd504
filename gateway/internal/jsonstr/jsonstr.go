// Package jsonstr appends JSON strings exactly as encoding/json writes them,
// without reflection, for the gateway's hand-written encodings of its most
// frequent frames and records.
package jsonstr

import "encoding/json"

// Append appends s as a JSON string, as encoding/json writes it: printable
// ASCII without quotes, backslashes or HTML characters is copied as is;
// anything else goes through encoding/json.
func Append(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' || c >= 0x7f {
			v, _ := json.Marshal(s)
			return append(b, v...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
