package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/passerelle/passerelle/gateway/connector/connstore"
)

// The WhatsApp message template commands, thin clients of
// /v1/connections/{id}/templates.
var (
	cmdConnectionsTemplates      = command{"connections templates", "list a WhatsApp connection's message templates: ID [--json]", runTemplatesList}
	cmdConnectionsTemplateAdd    = command{"connections templates add", "register a message template: ID --name N --language L --category C --body-file F [--example V]...", runTemplatesAdd}
	cmdConnectionsTemplateDelete = command{"connections templates delete", "remove a message template: ID NAME [--language L]", runTemplatesDelete}
)

// multiFlag is a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func runTemplatesList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var asJSON *bool
	c, pos, err := publishFlags("connections templates", args, stderr, func(fs *flag.FlagSet) {
		asJSON = fs.Bool("json", false, "print the templates as JSON")
	})
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 1, 1, "connections templates ID [--json]"); err != nil {
		return err
	}
	var out struct {
		Templates []connstore.Template `json:"templates"`
	}
	if err := c.call(ctx, http.MethodGet, "/v1/connections/"+url.PathEscape(pos[0])+"/templates", nil, &out); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, out.Templates)
	}
	if len(out.Templates) == 0 {
		fmt.Fprintf(stdout, "no templates yet: passerelle connections templates add %s --name table_ready --language en_US --category UTILITY --body-file body.txt --example 4\n", pos[0])
	}
	for _, t := range out.Templates {
		fmt.Fprintf(stdout, "%s\t%s\t%s\t%d params\t%s\n", t.Name, t.Language, t.Category, t.Params(), strings.ReplaceAll(t.Body, "\n", " "))
	}
	return nil
}

func runTemplatesAdd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var name, lang, category, bodyFile *string
	var examples multiFlag
	c, pos, err := publishFlags("connections templates add", args, stderr, func(fs *flag.FlagSet) {
		name = fs.String("name", "", "the template's name: lower-case letters, digits, underscores (an app's table-ready is table_ready)")
		lang = fs.String("language", "en_US", "its language code")
		category = fs.String("category", "UTILITY", "MARKETING, UTILITY or AUTHENTICATION")
		bodyFile = fs.String("body-file", "", "a file holding the body, with {{1}}, {{2}}... parameters")
		fs.Var(&examples, "example", "a sample value of a parameter, in order (repeat)")
	})
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 1, 1, "connections templates add ID --name N --body-file F [--example V]..."); err != nil {
		return err
	}
	if *bodyFile == "" {
		return fmt.Errorf("give the template's body with --body-file FILE")
	}
	body, err := os.ReadFile(*bodyFile)
	if err != nil {
		return fmt.Errorf("reading the body: %w", err)
	}
	req := connstore.Template{Name: *name, Language: *lang, Category: *category, Body: strings.TrimRight(string(body), "\r\n"), Examples: examples}
	var out struct {
		Template connstore.Template `json:"template"`
	}
	if err := c.call(ctx, http.MethodPost, "/v1/connections/"+url.PathEscape(pos[0])+"/templates", req, &out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "template %s (%s) registered for connection %s; register the same with Meta in WhatsApp Manager before it is sent\n", out.Template.Name, out.Template.Language, pos[0])
	return nil
}

func runTemplatesDelete(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var lang *string
	c, pos, err := publishFlags("connections templates delete", args, stderr, func(fs *flag.FlagSet) {
		lang = fs.String("language", "", "remove only this language")
	})
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 2, 2, "connections templates delete ID NAME [--language L]"); err != nil {
		return err
	}
	path := "/v1/connections/" + url.PathEscape(pos[0]) + "/templates/" + url.PathEscape(pos[1])
	if *lang != "" {
		path += "?language=" + url.QueryEscape(*lang)
	}
	var out struct {
		Deleted string `json:"deleted"`
	}
	if err := c.call(ctx, http.MethodDelete, path, nil, &out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "template %s removed from connection %s\n", out.Deleted, pos[0])
	return nil
}
