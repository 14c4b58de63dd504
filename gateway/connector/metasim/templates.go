package metasim

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Template is a WhatsApp message template the business registered: its
// body's variables are positional ({{1}}, {{2}}...) or named
// ({{first_name}}), never both.
type Template struct {
	Name     string `json:"name"`
	Language string `json:"language"`
	Category string `json:"category"` // MARKETING, UTILITY or AUTHENTICATION
	Body     string `json:"body"`
	// Examples are sample values of the body's parameters, one per
	// parameter in order; Meta refuses a template with parameters and no
	// samples.
	Examples []string `json:"examples,omitempty"`
}

type tmplKey struct{ name, lang string }

var (
	tmplNameRE  = regexp.MustCompile(`^[a-z0-9_]{1,512}$`)
	tmplLangRE  = regexp.MustCompile(`^[a-z]{2,3}(_[A-Za-z]{2,4})?$`)
	tmplParamRE = regexp.MustCompile(`\{\{([^{}]*)\}\}`)
	namedRE     = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
)

// maxTemplateBody is the characters a template's body may have.
const maxTemplateBody = 1024

// params returns the names of the body's parameters in order and whether
// they are named; an error says which rule of Meta's the body breaks.
func (t Template) params() ([]string, bool, error) {
	var names []string
	named, positional := false, false
	for _, m := range tmplParamRE.FindAllStringSubmatch(t.Body, -1) {
		p := m[1]
		if _, err := strconv.Atoi(p); err == nil {
			positional = true
		} else if namedRE.MatchString(p) {
			named = true
		} else {
			return nil, false, fmt.Errorf("body parameter {{%s}}: use {{1}}, {{2}}... or lower-case names with underscores like {{first_name}}", p)
		}
		names = append(names, p)
	}
	if named && positional {
		return nil, false, fmt.Errorf("the body mixes numbered and named parameters; use one kind")
	}
	if positional {
		for i, p := range names {
			if p != strconv.Itoa(i+1) {
				return nil, false, fmt.Errorf("body parameter {{%s}} is out of sequence: numbered parameters run {{1}}, {{2}}... in order", p)
			}
		}
	}
	if named {
		seen := map[string]bool{}
		for _, p := range names {
			if seen[p] {
				return nil, false, fmt.Errorf("body parameter {{%s}} appears twice; each name is used once", p)
			}
			seen[p] = true
		}
	}
	return names, named, nil
}

// check validates t as Meta does when a template is created.
func (t Template) check() error {
	if !tmplNameRE.MatchString(t.Name) {
		return fmt.Errorf("name %q: a template name has 1 to 512 lower-case letters, digits and underscores", t.Name)
	}
	if !tmplLangRE.MatchString(t.Language) {
		return fmt.Errorf("language %q: give a language code such as en or en_US", t.Language)
	}
	switch t.Category {
	case "MARKETING", "UTILITY", "AUTHENTICATION":
	default:
		return fmt.Errorf("category %q: use MARKETING, UTILITY or AUTHENTICATION", t.Category)
	}
	if n := utf8.RuneCountInString(t.Body); n < 1 || n > maxTemplateBody {
		return fmt.Errorf("the body must have 1 to %d characters, has %d", maxTemplateBody, n)
	}
	names, _, err := t.params()
	if err != nil {
		return err
	}
	trimmed := strings.TrimSpace(t.Body)
	if len(names) > 0 && (strings.HasPrefix(trimmed, "{{") || strings.HasSuffix(trimmed, "}}")) {
		return fmt.Errorf("the body may not start or end with a parameter; put text around it")
	}
	if len(t.Examples) != len(names) {
		return fmt.Errorf("the body has %d parameters and %d sample values; give one sample per parameter", len(names), len(t.Examples))
	}
	return nil
}

// Render returns the body with params filled in: by position, or by name
// for a template with named parameters.
func (t Template) Render(params map[string]string) string {
	return tmplParamRE.ReplaceAllStringFunc(t.Body, func(m string) string {
		if v, ok := params[m[2:len(m)-2]]; ok {
			return v
		}
		return m
	})
}

// RegisterTemplate registers t as approved, as the message_templates
// endpoint does; the error says which of Meta's rules t breaks.
func (s *Server) RegisterTemplate(t Template) error {
	if err := t.check(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := tmplKey{t.Name, t.Language}
	if _, ok := s.tmpl[k]; ok {
		return fmt.Errorf("a template %q in %s already exists; choose another name or language", t.Name, t.Language)
	}
	s.tmpl[k] = t
	return nil
}

// Template returns the registered template name in language lang.
func (s *Server) Template(name, lang string) (Template, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tmpl[tmplKey{name, lang}]
	return t, ok
}

// TemplateParams returns the body parameters of a template send request,
// by position ("1", "2"...) or by parameter_name.
func TemplateParams(req map[string]any) map[string]string {
	out := map[string]string{}
	t, _ := req["template"].(map[string]any)
	cs, _ := t["components"].([]any)
	for _, c := range cs {
		comp, _ := c.(map[string]any)
		if !strings.EqualFold(str(comp["type"]), "body") {
			continue
		}
		ps, _ := comp["parameters"].([]any)
		for i, p := range ps {
			pm, _ := p.(map[string]any)
			k := str(pm["parameter_name"])
			if k == "" {
				k = strconv.Itoa(i + 1)
			}
			out[k] = str(pm["text"])
		}
	}
	return out
}

// checkTemplateSend checks a template message against the registered
// template (s.mu held).
func (s *Server) checkTemplateSend(req map[string]any) *failure {
	t, _ := req["template"].(map[string]any)
	lang, _ := t["language"].(map[string]any)
	tm, ok := s.tmpl[tmplKey{str(t["name"]), str(lang["code"])}]
	if !ok {
		return &failure{132001, fmt.Sprintf("template name (%s) does not exist in %s", str(t["name"]), str(lang["code"]))}
	}
	names, named, _ := tm.params()
	got := TemplateParams(req)
	if len(got) != len(names) {
		return &failure{132000, fmt.Sprintf("body: number of localizable_params (%d) does not match the expected number of params (%d)", len(got), len(names))}
	}
	for i, n := range names {
		if _, ok := got[n]; !ok {
			if named {
				return &failure{132000, fmt.Sprintf("body: parameter_name %q is missing; the template's parameters are %s", n, strings.Join(names, ", "))}
			}
			return &failure{132000, fmt.Sprintf("body: parameter %d is missing", i+1)}
		}
	}
	return nil
}

// serveTemplates serves the message_templates edge of the WABA: POST
// creates a template (approved at once), GET lists them.
func (s *Server) serveTemplates(w http.ResponseWriter, r *http.Request, node string) {
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	switch {
	case tok == "":
		writeError(w, 400, 2500, "An active access token must be used to query information about the current user.", "")
		return
	case !hmacEqual(tok, s.cfg.Token):
		writeError(w, 401, 190, "Invalid OAuth access token - Cannot parse access token", "")
		return
	case node != s.cfg.WABAID:
		writeError(w, 400, 100, fmt.Sprintf("Unsupported post request. Object with ID '%s' does not exist, cannot be loaded due to missing permissions, or does not support this operation.", node), "")
		return
	}
	if r.Method == http.MethodGet {
		s.mu.Lock()
		data := []map[string]any{}
		for _, t := range s.tmpl {
			data = append(data, map[string]any{"id": templateID(t), "name": t.Name, "language": t.Language, "category": t.Category, "status": "APPROVED",
				"components": []any{map[string]any{"type": "BODY", "text": t.Body}}})
		}
		s.mu.Unlock()
		sort.Slice(data, func(i, j int) bool { return data[i]["id"].(string) < data[j]["id"].(string) })
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"data": data})
		return
	}
	if r.Method != http.MethodPost {
		writeError(w, 400, 100, "Unsupported request method", "message_templates takes GET and POST")
		return
	}
	var req struct {
		Name       string `json:"name"`
		Language   string `json:"language"`
		Category   string `json:"category"`
		Components []struct {
			Type    string `json:"type"`
			Text    string `json:"text"`
			Example struct {
				BodyText  [][]string `json:"body_text"`
				NamedBody []struct {
					ParamName string `json:"param_name"`
					Example   string `json:"example"`
				} `json:"body_text_named_params"`
			} `json:"example"`
		} `json:"components"`
	}
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err := json.Unmarshal(raw, &req); err != nil {
		templateError(w, "the body is not a JSON object: "+err.Error())
		return
	}
	t := Template{Name: req.Name, Language: req.Language, Category: req.Category}
	for _, c := range req.Components {
		if strings.EqualFold(c.Type, "BODY") {
			t.Body = c.Text
			if len(c.Example.BodyText) > 0 {
				t.Examples = c.Example.BodyText[0]
			}
			for _, n := range c.Example.NamedBody {
				t.Examples = append(t.Examples, n.Example)
			}
		}
	}
	if err := s.RegisterTemplate(t); err != nil {
		templateError(w, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"id": templateID(t), "status": "APPROVED", "category": t.Category})
}

func templateID(t Template) string {
	var h uint32 = 2166136261
	for _, b := range []byte(t.Name + "/" + t.Language) {
		h = (h ^ uint32(b)) * 16777619
	}
	return strconv.FormatUint(uint64(h), 10)
}

// templateError answers a refused template as the Graph API does: code
// 100 with a title and message meant for the person creating it.
func templateError(w http.ResponseWriter, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(400)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"message": "Invalid parameter", "type": "OAuthException", "code": 100, "is_transient": false,
		"error_user_title": "Template is not valid", "error_user_msg": msg, "fbtrace_id": "Asim100",
	}})
}
