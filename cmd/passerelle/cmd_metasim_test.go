package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/passerelle/passerelle/gateway/connector/metasim"
)

// passerelle metasim serves the phone pages and the Send API, prints
// where they are, posts what a person says to the webhook given, signed
// with the secret given, and stops with its context.
func TestMetasimCommand(t *testing.T) {
	got := make(chan *http.Request, 4)
	bodies := make(chan []byte, 4)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "GET" {
			if r.URL.Query().Get("hub.verify_token") == "vt" {
				io.WriteString(w, r.URL.Query().Get("hub.challenge"))
			}
			return
		}
		b, _ := io.ReadAll(r.Body)
		got <- r
		bodies <- b
	}))
	defer hook.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncBuffer
	var errb bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"metasim", "--addr", "127.0.0.1:0",
			"--account", "whatsapp,id=4242,waba=77,phone=15550001111,name=Ramen Bar,token=tok,secret=shh,verify=vt,webhook=" + hook.URL,
			"--user", "whatsapp:4915123456789:Jonas", "--read-after", "1h"}, &out, &errb)
	}()
	var base string
	for deadline := time.Now().Add(time.Minute); base == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := regexp.MustCompile(`Meta simulator on (http://\S+)\.`).FindStringSubmatch(out.String()); m != nil {
			base = m[1]
		}
	}
	if base == "" {
		t.Fatalf("no address printed: %s %s", out.String(), errb.String())
	}
	for deadline := time.Now().Add(time.Minute); !strings.Contains(out.String(), "verified") && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
	}
	for _, want := range []string{"/phone/whatsapp/4915123456789", "POST " + base + "/v23.0/4242/messages", "/v23.0/77/message_templates", `"shh"`, "webhook of 4242 verified"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	resp, err := http.PostForm(base+"/phone/whatsapp/4915123456789/say", url.Values{"text": {"Table for two?"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	r, body := <-got, <-bodies
	if r.Header.Get("X-Hub-Signature-256") != metasim.Sign([]byte("shh"), body) || !strings.Contains(string(body), "Table for two?") || !strings.Contains(string(body), `"phone_number_id":"4242"`) {
		t.Fatalf("webhook %s with %s", body, r.Header.Get("X-Hub-Signature-256"))
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("metasim did not stop with its context")
	}
}

func TestMetasimCommandRefuses(t *testing.T) {
	tests := []struct {
		args []string
		msg  string
	}{
		{[]string{"--account", "whatsapp,id=1,tok=x"}, `unknown key "tok"`},
		{[]string{"--account", "whatsapp,id"}, "not key=value"},
		{[]string{"--account", "whatsapp,id=1"}, "access token is empty"},
		{[]string{"--user", "whatsapp"}, "NETWORK:ID"},
		{[]string{"--user", "telegram:1"}, "use whatsapp, messenger or instagram"},
		{[]string{"--duplicates", "2"}, "between 0 and 1"},
		{[]string{"extra"}, "unexpected argument"},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		if code := run(context.Background(), append([]string{"metasim", "--addr", "127.0.0.1:0"}, tt.args...), &out, &errb); code != 2 || !strings.Contains(errb.String(), tt.msg) {
			t.Errorf("%v: exit %d, %s; want 2 and %q", tt.args, code, errb.String(), tt.msg)
		}
	}
}
