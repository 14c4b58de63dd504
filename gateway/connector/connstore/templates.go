package connstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.etcd.io/bbolt"

	"github.com/passerelle/passerelle/gateway/connector"
)

// bucketTemplates: connection id, 0, name, 0, language -> Template (JSON).
var bucketTemplates = []byte("connections.templates")

// Template is a WhatsApp message template a merchant registered for a
// connection, as Meta's message_templates endpoint takes it: the platform
// sends it to a person outside WhatsApp's 24-hour window when an app's
// chat.notify names a purpose or template of the same name (TemplateName).
type Template struct {
	Name     string `json:"name"`
	Language string `json:"language"`
	Category string `json:"category"` // MARKETING, UTILITY or AUTHENTICATION
	// Body is the text, with numbered parameters {{1}}, {{2}}... in order.
	Body string `json:"body"`
	// Examples are sample values of the body's parameters, one per
	// parameter in order, as Meta requires.
	Examples []string `json:"examples,omitempty"`
	Created  int64    `json:"created"` // unix ms
}

// Params is the number of the body's parameters.
func (t Template) Params() int { return len(tmplParamRE.FindAllString(t.Body, -1)) }

// ErrNoTemplate: the connection has no template of that name.
var ErrNoTemplate = errors.New("no such template")

var (
	tmplNameRE  = regexp.MustCompile(`^[a-z0-9_]{1,512}$`)
	tmplLangRE  = regexp.MustCompile(`^[a-z]{2,3}(_[A-Za-z]{2,4})?$`)
	tmplParamRE = regexp.MustCompile(`\{\{([^{}]*)\}\}`)
)

// MaxTemplateBody is the characters a template's body may have (Meta's
// limit).
const MaxTemplateBody = 1024

// TemplateName is the WhatsApp template name an app's purpose or template
// name stands for: "-" and "." read as "_" (an app's "table-ready" is the
// template table_ready).
func TemplateName(app string) string {
	return strings.NewReplacer("-", "_", ".", "_").Replace(strings.ToLower(app))
}

// ValidateTemplate checks t as Meta does when a template is created; the
// error (wrapping ErrInvalid) says which rule t breaks and how to fix it.
func ValidateTemplate(t Template) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: template: %s", ErrInvalid, fmt.Sprintf(format, a...))
	}
	if !tmplNameRE.MatchString(t.Name) {
		return bad("name %q: a template name has 1 to 512 lower-case letters, digits and underscores, such as table_ready", t.Name)
	}
	if !tmplLangRE.MatchString(t.Language) {
		return bad("language %q: give a language code such as en or en_US", t.Language)
	}
	switch t.Category {
	case "MARKETING", "UTILITY", "AUTHENTICATION":
	default:
		return bad("category %q: use MARKETING, UTILITY or AUTHENTICATION", t.Category)
	}
	if !utf8.ValidString(t.Body) {
		return bad("the body is not valid UTF-8")
	}
	if n := utf8.RuneCountInString(t.Body); n < 1 || n > MaxTemplateBody {
		return bad("the body must have 1 to %d characters, has %d", MaxTemplateBody, n)
	}
	ps := tmplParamRE.FindAllStringSubmatch(t.Body, -1)
	for i, m := range ps {
		if m[1] != strconv.Itoa(i+1) {
			return bad("body parameter {{%s}}: parameters are numbered {{1}}, {{2}}... in order", m[1])
		}
	}
	trimmed := strings.TrimSpace(t.Body)
	if len(ps) > 0 && (strings.HasPrefix(trimmed, "{{") || strings.HasSuffix(trimmed, "}}")) {
		return bad("the body may not start or end with a parameter; put text around it")
	}
	if len(t.Examples) != len(ps) {
		return bad("the body has %d parameters and %d examples; give one sample value per parameter", len(ps), len(t.Examples))
	}
	for i, e := range t.Examples {
		if e == "" {
			return bad("example %d is empty; give a sample value", i+1)
		}
	}
	return nil
}

func templateKey(conn, name, lang string) []byte {
	return []byte(conn + "\x00" + name + "\x00" + lang)
}

// RegisterTemplate registers t for WhatsApp connection conn, replacing the
// one of the same name and language.
func (s *Store) RegisterTemplate(_ context.Context, conn string, t Template) (Template, error) {
	if err := ValidateTemplate(t); err != nil {
		return Template{}, err
	}
	t.Created = s.cfg.Now().UnixMilli()
	err := s.db.Update(func(tx *bbolt.Tx) error {
		r, err := get(tx, conn)
		if err != nil {
			return err
		}
		if r.Network != connector.NetworkWhatsApp {
			return fmt.Errorf("%w: template: connection %s is on %s; message templates are WhatsApp's", ErrInvalid, conn, r.Network)
		}
		b, err := tx.CreateBucketIfNotExists(bucketTemplates)
		if err != nil {
			return err
		}
		v, err := json.Marshal(t)
		if err != nil {
			return err
		}
		return b.Put(templateKey(conn, t.Name, t.Language), v)
	})
	return t, err
}

// Templates returns the templates of connection conn, by name and
// language.
func (s *Store) Templates(_ context.Context, conn string) ([]Template, error) {
	out := []Template{}
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketTemplates)
		if b == nil {
			return nil
		}
		prefix := []byte(conn + "\x00")
		c := b.Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var t Template
			if err := json.Unmarshal(v, &t); err != nil {
				return fmt.Errorf("connstore: template %q: %w", k, err)
			}
			out = append(out, t)
		}
		return nil
	})
	return out, err
}

// Template returns the template of connection conn that an app's purpose
// or template name stands for (TemplateName), in the first language
// registered; ErrNoTemplate if there is none.
func (s *Store) Template(ctx context.Context, conn, name string) (Template, error) {
	ts, err := s.Templates(ctx, conn)
	if err != nil {
		return Template{}, err
	}
	want := TemplateName(name)
	for _, t := range ts {
		if t.Name == want {
			return t, nil
		}
	}
	return Template{}, fmt.Errorf("connection %s: template %q: %w", conn, want, ErrNoTemplate)
}

// DeleteTemplate removes the template name of connection conn, in every
// language, or in language lang when it is not "".
func (s *Store) DeleteTemplate(_ context.Context, conn, name, lang string) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketTemplates)
		var keys [][]byte
		if b != nil {
			prefix := []byte(conn + "\x00" + name + "\x00")
			c := b.Cursor()
			for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
				if lang == "" || strings.HasSuffix(string(k), "\x00"+lang) {
					keys = append(keys, append([]byte(nil), k...))
				}
			}
		}
		if len(keys) == 0 {
			return fmt.Errorf("connection %s: template %q: %w", conn, name, ErrNoTemplate)
		}
		for _, k := range keys {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}
