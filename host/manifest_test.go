package host_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/passerelle/passerelle/host"
)

func goodManifest() host.Manifest {
	return host.Manifest{
		ABI:         host.ABIVersion,
		ID:          "lunch-2",
		Name:        "Lunch",
		Version:     "1.0.0",
		Permissions: []host.Permission{host.PermChat, host.PermPay},
	}
}

func TestManifestValidate(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(m *host.Manifest)
		wantIn string // "" means valid
	}{
		{"valid", func(m *host.Manifest) {}, ""},
		{"no permissions", func(m *host.Manifest) { m.Permissions = nil }, ""},
		{"wrong abi", func(m *host.Manifest) { m.ABI = "passerelle_v2" }, "abi"},
		{"empty id", func(m *host.Manifest) { m.ID = "" }, "id"},
		{"upper id", func(m *host.Manifest) { m.ID = "Lunch" }, "id"},
		{"dash id", func(m *host.Manifest) { m.ID = "-lunch" }, "id"},
		{"long id", func(m *host.Manifest) { m.ID = strings.Repeat("a", 41) }, "id"},
		{"empty version", func(m *host.Manifest) { m.Version = "" }, "version"},
		{"space version", func(m *host.Manifest) { m.Version = "1 0" }, "version"},
		{"no name", func(m *host.Manifest) { m.Name = "" }, "name"},
		{"unknown permission", func(m *host.Manifest) { m.Permissions = []host.Permission{"root"} }, "unknown permission"},
		{"duplicate permission", func(m *host.Manifest) {
			m.Permissions = []host.Permission{host.PermChat, host.PermChat}
		}, "twice"},
		{"memory too big", func(m *host.Manifest) { m.Limits.MemoryPages = 70000 }, "memory_pages"},
		{"call over event", func(m *host.Manifest) { m.Limits.CallBytes, m.Limits.EventBytes = 10, 5 }, "call_bytes"},
		{"status events", func(m *host.Manifest) { m.Events = []string{host.EventStatus} }, ""},
		{"unknown event", func(m *host.Manifest) { m.Events = []string{"delivered"} }, `unknown event "delivered"`},
		{"an event every app gets", func(m *host.Manifest) { m.Events = []string{host.EventPayment} }, "unknown event"},
		{"duplicate event", func(m *host.Manifest) { m.Events = []string{host.EventStatus, host.EventStatus} }, "listed twice in events"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := goodManifest()
			tt.edit(&m)
			err := m.Validate()
			if tt.wantIn == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want an error about %q", tt.wantIn)
			}
			if !errors.Is(err, host.ErrInvalidManifest) {
				t.Errorf("error %v does not wrap ErrInvalidManifest", err)
			}
			if !strings.Contains(err.Error(), tt.wantIn) {
				t.Errorf("error %q does not mention %q", err, tt.wantIn)
			}
		})
	}
}

func TestManifestValidateReportsAll(t *testing.T) {
	m := host.Manifest{ABI: "x", ID: "X", Version: ""}
	err := m.Validate()
	for _, want := range []string{"abi", "id", "version", "name"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not mention %q", err, want)
		}
	}
}

func TestParseManifest(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		valid bool
	}{
		{"valid", `{"abi":"passerelle_v1","id":"shop","name":"Shop","version":"1","permissions":["chat"]}`, true},
		{"limits", `{"abi":"passerelle_v1","id":"shop","name":"Shop","version":"1","permissions":[],"limits":{"memory_pages":16}}`, true},
		{"unknown field", `{"abi":"passerelle_v1","id":"shop","name":"Shop","version":"1","permisions":["chat"]}`, false},
		{"trailing", `{"abi":"passerelle_v1","id":"shop","name":"Shop","version":"1"} {}`, false},
		{"not json", `abi=passerelle_v1`, false},
		{"invalid", `{"abi":"passerelle_v1","id":"S","name":"Shop","version":"1"}`, false},
		{"not utf8", "{\"abi\":\"passerelle_v1\",\"id\":\"shop\",\"name\":\"\xff\",\"version\":\"1\"}", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := host.ParseManifest([]byte(tt.in))
			if tt.valid != (err == nil) {
				t.Fatalf("ParseManifest() error = %v, want valid=%v", err, tt.valid)
			}
			if err != nil && !errors.Is(err, host.ErrInvalidManifest) {
				t.Errorf("error %v does not wrap ErrInvalidManifest", err)
			}
			if tt.valid && m.ID != "shop" {
				t.Errorf("ID = %q, want shop", m.ID)
			}
		})
	}
}

func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(`{"abi":"passerelle_v1","id":"shop","name":"Shop","version":"1","permissions":["chat"]}`))
	f.Add([]byte(`{"abi":"passerelle_v1","id":"a-b","name":"x","version":"0.1+x","permissions":["pay","pay"],"limits":{"call_bytes":9,"event_bytes":1}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := host.ParseManifest(data)
		if err != nil {
			if m != nil {
				t.Fatal("non-nil manifest with an error")
			}
			return
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("ParseManifest accepted a manifest Validate rejects: %v", err)
		}
	})
}

// TestKnownPermissionsIsACopy: a caller changing the list cannot widen what
// manifests may name.
func TestKnownPermissionsIsACopy(t *testing.T) {
	got := host.KnownPermissions()
	if len(got) != 6 {
		t.Fatalf("KnownPermissions = %v", got)
	}
	got[0] = "root"
	if host.KnownPermissions()[0] == "root" {
		t.Fatal("changing the returned slice changed the package's table")
	}
	m := host.Manifest{ABI: "passerelle_v1", ID: "shop", Name: "Shop", Version: "1", Permissions: []host.Permission{"root"}}
	if err := m.Validate(); err == nil {
		t.Fatal("a manifest naming an unknown permission validated")
	}
}

// TestManifestWants: every app gets the events every app gets; an opt-in
// event (status) only the apps that list it.
func TestManifestWants(t *testing.T) {
	m := goodManifest()
	for _, typ := range []string{host.EventMessage, host.EventPayment, "future"} {
		if !m.Wants(typ) {
			t.Errorf("a manifest without events does not want %q", typ)
		}
	}
	if m.Wants(host.EventStatus) {
		t.Error("a manifest without events wants status events")
	}
	m.Events = []string{host.EventStatus}
	if !m.Wants(host.EventStatus) {
		t.Error(`a manifest with "events": ["status"] does not want them`)
	}
	if _, err := host.ParseManifest([]byte(`{"abi":"passerelle_v1","id":"shop","name":"Shop","version":"1","permissions":[],"events":["status","reads"]}`)); err == nil ||
		!strings.Contains(err.Error(), `unknown event "reads"`) {
		t.Fatalf("ParseManifest with an unknown event: %v", err)
	}
}
