/*
 * Echo in C: the smallest Passerelle mini-app, the twin of miniapps/echo
 * (Go). It repeats what people say, and shows a menu card with buttons when
 * opened or when someone types "menu".
 *
 * Build it with
 *
 *	passerelle app build sdk/c/examples/echo
 *
 * and try it in a terminal with
 *
 *	passerelle dev sdk/c/examples/echo
 */
#include "passerelle.h"

static const pl_button menu_buttons[] = {
	{.id = "hello", .title = "Say hello"},
	{.id = "shout", .title = "Shout", .value = "hello there"},
	{.id = "help", .title = "Help"},
};

static const pl_card menu = {
	.title = "Echo",
	.text = "Send me anything and I will say it back.",
	.buttons = menu_buttons,
	.nbuttons = PL_COUNT(menu_buttons),
};

static bool space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

/* trim returns s without leading and trailing ASCII white space. */
static const char *trim(const char *s) {
	while (space(*s)) s++;
	uint32_t n = pl_strlen(s);
	while (n > 0 && space(s[n - 1])) n--;
	return pl_strndup(s, n);
}

static char lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c; }

static bool equal_fold(const char *a, const char *b) {
	while (*a && lower(*a) == lower(*b)) a++, b++;
	return lower(*a) == lower(*b);
}

static pl_status on_open(const pl_event *ev) {
	(void)ev;
	return pl_send_card(&menu, NULL);
}

static pl_status on_message(const pl_event *ev) {
	const char *text = trim(ev->text);
	if (equal_fold(text, "menu")) return pl_send_card(&menu, NULL);
	if (*text == 0) text = "(nothing)";
	return pl_send_text(pl_sprintf("echo: %s", text), NULL);
}

static pl_status on_action(const pl_event *ev) {
	const pl_action *a = ev->action;
	const char *id = a ? a->id : "";
	const char *reply;
	if (pl_streq(id, "hello")) {
		reply = pl_sprintf("Hello, %s!", ev->user);
	} else if (pl_streq(id, "shout")) {
		char *up = pl_sprintf("%s!", a->value);
		for (char *p = up; *p; p++) {
			if (*p >= 'a' && *p <= 'z') *p = (char)(*p - 32);
		}
		reply = up;
	} else if (pl_streq(id, "help")) {
		reply = "Type anything and I repeat it. Type \"menu\" to see the buttons again.";
	} else {
		pl_logf(PL_WARN, "unknown button %s", pl_quote(id));
		reply = "I do not know that button. Type \"menu\" to see the buttons again.";
	}
	return pl_send_text(reply, NULL);
}

PASSERELLE_APP(.on_open = on_open, .on_message = on_message, .on_action = on_action);
