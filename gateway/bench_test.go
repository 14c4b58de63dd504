package gateway_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/passerelle/passerelle/gateway"
	"github.com/passerelle/passerelle/gateway/convlog"
	"github.com/passerelle/passerelle/gateway/promptstore"
)

// BenchmarkPersonToPerson measures durable person-to-person delivery
// through the real server (bbolt, WebSocket on loopback): pairs of clients,
// each sender waiting for its previous message to be acknowledged.
func BenchmarkPersonToPerson(b *testing.B) {
	for _, pairs := range []int{1, 64, 512} {
		b.Run(fmt.Sprintf("pairs=%d", pairs), func(b *testing.B) {
			db := openDB(b, b.TempDir())
			defer db.Close()
			log, err := convlog.Open(db, convlog.Config{})
			if err != nil {
				b.Fatal(err)
			}
			defer log.Close()
			prompts, err := promptstore.Open(db)
			if err != nil {
				b.Fatal(err)
			}
			defer prompts.Close()
			srv, err := gateway.New(gateway.Config{Log: log, PromptStore: prompts, Auth: auth{}, RatePerSecond: 1e6, RateBurst: 1e6})
			if err != nil {
				b.Fatal(err)
			}
			hs := httptest.NewServer(srv.Handler())
			defer func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_ = srv.Close(ctx)
				hs.Close()
			}()
			url := "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws?token=tok-"
			dial := func(p string) *websocket.Conn {
				ws, _, err := websocket.DefaultDialer.Dial(url+p, nil)
				if err != nil {
					b.Fatal(err)
				}
				ws.WriteJSON(map[string]any{"type": "hello", "v": 1})
				for {
					var f map[string]any
					if err := ws.ReadJSON(&f); err != nil {
						b.Fatal(err)
					}
					if f["type"] == "ready" {
						return ws
					}
				}
			}
			type pair struct {
				from, to *websocket.Conn
				conv     string
				lat      []time.Duration
			}
			ps := make([]*pair, pairs)
			for i := range ps {
				p := &pair{from: dial(fmt.Sprint("s", i)), to: dial(fmt.Sprint("r", i))}
				p.from.WriteJSON(map[string]any{"type": "send", "id": "0", "to": fmt.Sprint("r", i), "text": "hi"})
				for p.conv == "" {
					var f map[string]any
					p.from.ReadJSON(&f)
					if f["type"] == "ack" {
						p.conv = f["conv"].(string)
					}
				}
				var f map[string]any
				for f["type"] != "msg" {
					p.to.ReadJSON(&f)
				}
				ps[i] = p
			}
			per := max(b.N/pairs, 1)
			b.ResetTimer()
			var wg sync.WaitGroup
			for _, p := range ps {
				wg.Add(2)
				go func() { // the recipient: latency from the timestamp in the text
					defer wg.Done()
					for n := 0; n < per; {
						var f struct {
							Type    string `json:"type"`
							Message struct{ Text string }
						}
						if err := p.to.ReadJSON(&f); err != nil {
							return
						}
						if f.Type == "msg" {
							ns, _ := strconv.ParseInt(f.Message.Text, 10, 64)
							p.lat = append(p.lat, time.Duration(time.Now().UnixNano()-ns))
							n++
						}
					}
				}()
				go func() { // the sender: one message in flight
					defer wg.Done()
					for i := 1; i <= per; i++ {
						p.from.WriteJSON(map[string]any{"type": "send", "id": strconv.Itoa(i), "conv": p.conv, "text": strconv.FormatInt(time.Now().UnixNano(), 10)})
						for {
							var f map[string]any
							if err := p.from.ReadJSON(&f); err != nil {
								return
							}
							if f["type"] == "ack" {
								break
							}
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			var lat []time.Duration
			for _, p := range ps {
				lat = append(lat, p.lat...)
			}
			slices.Sort(lat)
			if len(lat) > 0 {
				b.ReportMetric(float64(len(lat))/b.Elapsed().Seconds(), "msgs/s")
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
			}
			for _, p := range ps {
				p.from.Close()
				p.to.Close()
			}
		})
	}
}
