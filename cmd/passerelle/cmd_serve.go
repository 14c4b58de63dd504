package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
)

var cmdServe = command{"serve", "run the server: gateway, web client, merchant API, mini-apps", runServe}

// Environment variables read by serve; a flag given on the command line wins
// over its variable, and a variable over the config file.
const (
	envAddr    = "PASSERELLE_ADDR"
	envData    = "PASSERELLE_DATA"
	envConfig  = "PASSERELLE_CONFIG"
	envOrigins = "PASSERELLE_ALLOWED_ORIGINS"
	envLog     = "PASSERELLE_LOG_LEVEL"

	envPublicURL = "PASSERELLE_PUBLIC_URL"
)

func defaultConfig() platformConfig {
	return platformConfig{Addr: "127.0.0.1:8080", Data: "data", MaxUploadBytes: 32 << 20, LogLevel: "info"}
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("passerelle serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "", "listen address (env "+envAddr+", default 127.0.0.1:8080)")
	data := fs.String("data", "", "data directory, created if absent (env "+envData+", default ./data)")
	file := fs.String("config", "", "JSON config file (env "+envConfig+"); flags and env override it")
	level := fs.String("log-level", "", "debug, info, warn or error (env "+envLog+", default info)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: passerelle serve [--addr HOST:PORT] [--data DIR] [--config FILE] [--log-level LEVEL]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	cfg, err := loadConfig(firstOf(*file, os.Getenv(envConfig)))
	if err != nil {
		return err
	}
	cfg.Addr = firstOf(*addr, os.Getenv(envAddr), cfg.Addr)
	cfg.Data = firstOf(*data, os.Getenv(envData), cfg.Data)
	cfg.LogLevel = firstOf(*level, os.Getenv(envLog), cfg.LogLevel)
	if v := os.Getenv(envOrigins); v != "" {
		cfg.AllowedOrigins = strings.Split(v, ",")
	}
	cfg.SecretKey = os.Getenv(envSecretKey)
	cfg.PublicURL = firstOf(os.Getenv(envPublicURL), cfg.PublicURL)
	log, err := newLogger(stderr, cfg.LogLevel)
	if err != nil {
		return usageError{err.Error()}
	}
	p, err := startPlatform(ctx, cfg, log)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Passerelle is serving on %s (data in %s). Stop with Ctrl-C.\n", p.url(), cfg.Data)
	<-ctx.Done()
	log.Info("shutting down: draining connections")
	p.close(context.WithoutCancel(ctx))
	log.Info("stopped")
	return nil
}

// loadConfig reads a JSON config file over the defaults; "" means none.
func loadConfig(path string) (platformConfig, error) {
	cfg := defaultConfig()
	if path == "" {
		return cfg, nil
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("read the config file: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return cfg, fmt.Errorf("config file %s: %w (see the README's Configuration section for the fields)", path, err)
	}
	return cfg, nil
}

func firstOf(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// newLogger returns a text logger at the named level.
func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		if n, nerr := strconv.Atoi(level); nerr == nil {
			l = slog.Level(n)
		} else {
			return nil, fmt.Errorf("log level %q: use debug, info, warn or error", level)
		}
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}
