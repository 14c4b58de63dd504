/*
 * The SDK probe in C: every operation and event of passerelle_v1, answered
 * in text the conformance vectors (../probe.json) spell out. Its twin in Go
 * is ../go/main.go; both must give the same answers.
 */
#include "passerelle.h"

static pl_status say(const char *text) { return pl_send_text(text, NULL); }

/* code is the stable code of the last failed call. */
static const char *code(void) { return pl_last_error()->code; }

static pl_status cards(const char *which) {
	static const pl_button buttons[] = {
		{"yes", "Yes", NULL},
		{"no", "No", "n"},
	};
	static const pl_list_item items[] = {
		{"a", "Apple", "Red \"and\" round"},
		{"b", "Banana", NULL},
	};
	static const pl_list list = {"Fruit", items, PL_COUNT(items)};
	static const pl_form_field fields[] = {
		{"name", "Your name", NULL, true},
		{"age", "Age", "number", false},
	};
	static const pl_form form = {"about", "Send", fields, PL_COUNT(fields)};
	pl_card c = {.title = "Probe", .text = "Pick one"};
	if (pl_streq(which, "buttons")) {
		c.image = "https://example.com/p.png";
		c.buttons = buttons;
		c.nbuttons = PL_COUNT(buttons);
	} else if (pl_streq(which, "list")) {
		c.list = &list;
	} else {
		c.form = &form;
	}
	return pl_send_card(&c, NULL);
}

static pl_status kv(pl_scope scope) {
	const char *v, *bin, *missing;
	uint32_t n, bn;
	bool d1, d2;
	static const unsigned char bytes[] = {0, 1, 0xff, 'x'};
	if (pl_kv_set(scope, "greeting", "h\xc3\xa9llo \"w\"") != PL_OK) return pl_last_error()->status;
	if (pl_kv_get(scope, "greeting", &v, &n) != PL_OK) return pl_last_error()->status;
	if (pl_kv_set_bytes(scope, "bin", bytes, sizeof bytes) != PL_OK) return pl_last_error()->status;
	if (pl_kv_get(scope, "bin", &bin, &bn) != PL_OK) return pl_last_error()->status;
	pl_kv_page page;
	if (pl_kv_list(scope, "", NULL, 0, &page) != PL_OK) return pl_last_error()->status;
	const char *keys = "";
	for (uint32_t i = 0; i < page.nkeys; i++) keys = pl_sprintf("%s%s%s", keys, i ? "," : "", page.keys[i]);
	pl_kv_delete(scope, "greeting", &d1);
	pl_kv_delete(scope, "greeting", &d2);
	missing = pl_kv_get(scope, "greeting", &v, NULL) == PL_NOT_FOUND ? code() : "found";
	char *hex = pl_alloc(bn * 2 + 1);
	for (uint32_t i = 0; i < bn; i++) {
		hex[2 * i] = "0123456789abcdef"[(unsigned char)bin[i] >> 4];
		hex[2 * i + 1] = "0123456789abcdef"[bin[i] & 15];
	}
	return say(pl_sprintf("kv %s len=%u bin=%s keys=%s deleted=%d,%d after=%s",
	                      scope == PL_SCOPE_APP ? "app" : "person", n, hex, keys, d1, d2, missing));
}

static pl_status pages(void) {
	for (int i = 1; i <= 3; i++) pl_kv_set(PL_SCOPE_APP, pl_sprintf("p/%d", i), "x");
	pl_kv_set(PL_SCOPE_APP, "q/1", "x");
	pl_kv_page a, b;
	if (pl_kv_list(PL_SCOPE_APP, "p/", NULL, 2, &a) != PL_OK) return pl_last_error()->status;
	if (pl_kv_list(PL_SCOPE_APP, "p/", a.cursor, 2, &b) != PL_OK) return pl_last_error()->status;
	pl_status big = pl_kv_list(PL_SCOPE_APP, "p/", NULL, 5000, NULL);
	return say(pl_sprintf("pages %s,%s cursor=%s then %s cursor=%s limit5000=%s", a.keys[0], a.keys[1], a.cursor,
	                      b.keys[0], *b.cursor ? b.cursor : "none", big == PL_OK ? "ok" : code()));
}

static pl_status quota(void) {
	uint32_t n = 65 * 1024;
	char *v = pl_alloc(n + 1);
	for (uint32_t i = 0; i < n; i++) v[i] = 'q';
	pl_status st = pl_kv_set(PL_SCOPE_APP, "big", v);
	const pl_error *e = pl_last_error();
	return say(pl_sprintf("quota status=%d code=%s op=%s message=%s", st, e->code, e->op, *e->message ? "yes" : "no"));
}

static pl_status profile(void) {
	pl_profile p;
	pl_status st = pl_profile_get(PL_FIELD_NAME, &p);
	if (st == PL_CONSENT_REQUIRED) return say("profile consent_required");
	if (st != PL_OK) return st;
	return say(pl_sprintf("profile name=%s user=%s union=%s", p.name, p.user[0] ? "set" : "empty", pl_has_prefix(p.union_id, "u_") ? "u_" : "?"));
}

static pl_status pay(const char *arg) {
	int64_t amount = 0;
	for (; *arg >= '0' && *arg <= '9'; arg++) amount = amount * 10 + (*arg - '0');
	pl_order o;
	pl_status st = pl_pay_request(amount, "EUR", "Probe order", pl_sprintf("probe-%lld", (long long)amount), &o);
	if (st != PL_OK) return say(pl_sprintf("pay %s", code()));
	pl_kv_set(PL_SCOPE_APP, "order", o.order);
	return say(pl_sprintf("pay %s %lld %s %s key=%s expires=%s", o.status, (long long)o.amount, o.currency,
	                      o.description, o.idempotency_key, *o.expires ? "set" : "none"));
}

static pl_status refund(void) {
	const char *order;
	if (pl_kv_get(PL_SCOPE_APP, "order", &order, NULL) != PL_OK) return pl_last_error()->status;
	pl_order o, s;
	if (pl_pay_refund(order, 100, "r-1", &o) != PL_OK) return say(pl_sprintf("refund %s", code()));
	if (pl_pay_status(order, &s) != PL_OK) return pl_last_error()->status;
	pl_status again = pl_pay_refund(order, 999999, "r-2", NULL);
	return say(pl_sprintf("refund %s refunded=%lld status=%s too_much=%s", o.status, (long long)o.refunded, s.status,
	                      again == PL_OK ? "ok" : code()));
}

static pl_status timer(void) {
	const char *id;
	if (pl_timer_after(1000, "{\"a\":[true,null,-2.5e3],\"n\":1,\"s\":\"x\\u00e9\"}", &id) != PL_OK)
		return pl_last_error()->status;
	pl_kv_set(PL_SCOPE_APP, "timer", id);
	return say(pl_sprintf("timer set=%s", *id ? "yes" : "no"));
}

static pl_status cancel(void) {
	const char *id;
	if (pl_kv_get(PL_SCOPE_APP, "timer", &id, NULL) != PL_OK) return pl_last_error()->status;
	pl_status first = pl_timer_cancel(id);
	pl_status second = pl_timer_cancel(id);
	return say(pl_sprintf("cancel %s then %s", pl_status_code(first), pl_status_code(second)));
}

static pl_status share(void) {
	pl_card c = {.title = "Probe", .text = "Open me"};
	const char *id;
	if (pl_share(&c, "from-share", NULL, &id, NULL) != PL_OK) return pl_last_error()->status;
	return say(pl_sprintf("share id=%s", *id ? "set" : "none"));
}

static pl_status handoff(void) {
	static const pl_field fields[] = {{"order", "42"}};
	const char *id;
	bool already;
	if (pl_handoff("probe", "a \"summary\"", fields, PL_COUNT(fields), &id, &already) != PL_OK) return pl_last_error()->status;
	pl_status st = pl_handoff("", NULL, NULL, 0, NULL, NULL);
	return say(pl_sprintf("handoff id=%s already=%d empty_reason=%s", *id ? "set" : "none", already, st == PL_OK ? "ok" : code()));
}

static pl_status on_handoff(const pl_event *ev) {
	const pl_handoff_event *h = ev->handoff;
	return say(pl_sprintf("%s %s agent=%s note=%s id=%s", ev->type, h->status, h->agent, h->note, *h->id ? "set" : "none"));
}

static pl_status on_message(const pl_event *ev) {
	const char *t = ev->text, *arg;
	if (pl_streq(t, "buttons") || pl_streq(t, "list") || pl_streq(t, "form")) return cards(t);
	if (pl_streq(t, "kv")) return kv(PL_SCOPE_APP);
	if (pl_streq(t, "kv person")) return kv(PL_SCOPE_PERSON);
	if (pl_streq(t, "pages")) return pages();
	if (pl_streq(t, "quota")) return quota();
	if (pl_streq(t, "profile")) return profile();
	if ((arg = pl_has_prefix(t, "pay ")) != NULL) return pay(arg);
	if (pl_streq(t, "refund")) return refund();
	if (pl_streq(t, "timer")) return timer();
	if (pl_streq(t, "cancel-timer")) return cancel(); /* "cancel" alone is STOP, the platform's */
	if (pl_streq(t, "share")) return share();
	if (pl_streq(t, "handoff")) return handoff();
	if (pl_streq(t, "log")) {
		pl_log(PL_DEBUG, "debug line");
		pl_logf(PL_WARN, "warn %s %d", pl_quote("q\"\n"), -7);
		return say("logged");
	}
	if (pl_streq(t, "fail")) return pl_send_text("", NULL);
	if (pl_streq(t, "internal")) return PL_INTERNAL;
	return say(pl_sprintf("message %s", t));
}

static pl_status on_open(const pl_event *ev) { return say(pl_sprintf("open text=%s surface=%s", ev->text, ev->surface)); }

static pl_status on_action(const pl_event *ev) {
	const pl_action *a = ev->action;
	const char *fields = "";
	for (uint32_t i = 0; i < a->nfields; i++) fields = pl_sprintf("%s %s=%s", fields, a->fields[i].name, a->fields[i].value);
	const char *name = pl_action_field(a, "name");
	return say(pl_sprintf("action %s value=%s fields=[%s] name=%s", a->id, a->value, fields, name ? name : "none"));
}

static pl_status on_payment(const pl_event *ev) {
	const pl_payment *p = ev->payment;
	return say(pl_sprintf("payment %s %lld %s refunded=%lld key=%s reason=%s", p->status, (long long)p->amount, p->currency,
	                      (long long)p->refunded, p->idempotency_key, p->reason));
}

static pl_status on_timer(const pl_event *ev) { return say(pl_sprintf("timer fired %s", ev->timer->payload)); }

static pl_status on_consent(const pl_event *ev) {
	const pl_consent *c = ev->consent;
	if (say(pl_sprintf("consent granted=%d profile=%d scopes=%u", c->granted, pl_consent_has(c, "identity.profile"), c->nscopes)) != PL_OK)
		return pl_last_error()->status;
	return profile();
}

static pl_status on_status(const pl_event *ev) {
	const pl_message_status *s = ev->status;
	return say(pl_sprintf("status message=%s state=%s code=%s network_code=%lld surface=%s", s->message, s->state, s->code,
		(long long)s->network_code, s->surface));
}

static pl_status on_other(const pl_event *ev) { return say(pl_sprintf("other %s", ev->type)); }

PASSERELLE_APP(.on_open = on_open, .on_message = on_message, .on_action = on_action, .on_payment = on_payment,
               .on_timer = on_timer, .on_consent = on_consent, .on_other = on_other,
               .on_handoff = on_handoff, .on_handback = on_handoff, .on_status = on_status);
