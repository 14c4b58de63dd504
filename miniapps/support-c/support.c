/*
 * Support is a Passerelle support bot in C, the port of miniapps/support
 * (Go): it lists help topics, answers common questions asked in people's
 * own words by matching them against its FAQ (faq.c), and hands the
 * conversation to the merchant's team when asked (or when it cannot help),
 * giving a reference the person can quote, and greets the person back when
 * the team hands the conversation back.
 *
 * Build it with
 *
 *	passerelle app build miniapps/support-c     (or ./build.sh)
 */
#include "support.h"

/* KEY_TICKET is the person's open handoff, in their private storage:
 * {"ref":"S-...","question":"..."}. */
#define KEY_TICKET "ticket"

static const char greeting[] = "Hi! Pick a topic, or type your question in your own words.";
static const char pick[] = "Pick a topic, or type your question.";

/* topics draws the list of topics, with a way to reach a person. */
static pl_status topics(const char *text) {
	pl_list_item *items = pl_alloc((faq_ntopics + 1) * sizeof *items);
	uint32_t n = 0;
	for (uint32_t i = 0; i < faq_ntopics; i++, n++) {
		items[n].id = pl_sprintf("topic:%s", faq_topics[i].id);
		items[n].title = faq_topics[i].title;
	}
	items[n++] = (pl_list_item){"human", "Talk to a person", "Our team answers here"};
	pl_list list = {"Topics", items, n};
	pl_card card = {.title = "Help centre", .text = text, .list = &list};
	return pl_send_card(&card, NULL);
}

/* not_sure offers the topics and a person when the bot found no answer. */
static pl_status not_sure(const char *text) {
	pl_button buttons[] = {
		{"topics", "See the topics", NULL},
		{"human", "Talk to a person", clip(text, 200)},
	};
	pl_card card = {
		.title = "I am not sure I understood",
		.text = "I could not find an answer to that. Try other words, pick a topic, or talk to a person.",
		.buttons = buttons,
		.nbuttons = PL_COUNT(buttons),
	};
	return pl_send_card(&card, NULL);
}

static pl_status answer(const entry *e) {
	pl_button buttons[] = {
		{"helped", "That helped", NULL},
		{"human", "Talk to a person", e->question},
		{"topics", "Other topics", NULL},
	};
	pl_card card = {.title = e->question, .text = e->answer, .buttons = buttons, .nbuttons = PL_COUNT(buttons)};
	return pl_send_card(&card, NULL);
}

static pl_status topic_card(const char *id) {
	const topic *t = faq_topic(id);
	if (t == NULL) return topics("That topic is no longer here. Pick another one.");
	pl_list_item *items = pl_alloc((faq_nentries + 1) * sizeof *items);
	uint32_t n = 0;
	for (uint32_t i = 0; i < faq_nentries; i++) {
		const entry *e = &faq_entries[i];
		if (!pl_streq(e->topic, id)) continue;
		items[n++] = (pl_list_item){pl_sprintf("faq:%s", e->id), e->title, e->question};
	}
	items[n++] = (pl_list_item){"human", "Talk to a person", NULL};
	pl_list list = {"Questions", items, n};
	pl_card card = {.title = t->title, .text = "Common questions (or type yours):", .list = &list};
	return pl_send_card(&card, NULL);
}

/* reference makes a short ticket reference from the event that opened it:
 * "S-" and the FNV-1a hash of the event id, a NUL and the user, in base 36. */
static const char *reference(const char *event_id, const char *user) {
	uint32_t h = 2166136261u;
	const char *parts[] = {event_id, "", user};
	for (uint32_t i = 0; i < PL_COUNT(parts); i++) {
		const unsigned char *p = (const unsigned char *)parts[i];
		for (; *p; p++) h = (h ^ *p) * 16777619u;
		if (i == 1) h = (h ^ 0) * 16777619u; /* the NUL between the two */
	}
	char digits[16];
	int i = sizeof digits;
	digits[--i] = 0;
	do {
		digits[--i] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"[h % 36];
		h /= 36;
	} while (h);
	return pl_sprintf("S-%s", digits + i);
}

/* error_text is the last failed call as the Go SDK prints an error. */
static const char *error_text(void) {
	const pl_error *e = pl_last_error();
	if (*e->message) return pl_sprintf("%s: %s: %s", e->op, e->code, e->message);
	return pl_sprintf("%s: %s", e->op, e->code);
}

/* handoff passes the conversation to the merchant's support team
 * (chat.handoff): a person answers in this conversation, and the person's
 * messages go to them until they hand it back. A person asking again while
 * it is open gets the same reference. */
static pl_status handoff(const pl_event *ev, const char *question) {
	const char *raw;
	uint32_t n;
	const char *ref = "", *asked = "";
	pl_status st = pl_kv_get(PL_SCOPE_PERSON, KEY_TICKET, &raw, &n);
	if (st == PL_OK) {
		pl_json *t = pl_json_parse(raw, n);
		ref = pl_json_str(pl_json_get(t, "ref"), "");
		asked = pl_json_str(pl_json_get(t, "question"), "");
	} else if (st != PL_NOT_FOUND) {
		pl_logf(PL_WARN, "read ticket: %s", error_text());
	}
	if (*ref == 0) { /* none open: a new ticket */
		ref = reference(ev->id, ev->user);
		asked = clip(question, 200);
	}
	const char *summary = *asked ? pl_sprintf("The person asked: %s", asked) : "The person asked for a person.";
	pl_field fields[] = {{"reference", ref}, {"surface", ev->surface}};
	const char *id;
	bool already;
	if (pl_handoff("asked for a person", summary, fields, PL_COUNT(fields), &id, &already) != PL_OK) {
		pl_logf(PL_WARN, "handoff %s: %s", ref, error_text());
		return pl_send_text(pl_sprintf("I could not reach our team just now (reference %s). Please try again in a moment.", ref), NULL);
	}
	if (already) {
		return pl_send_text(pl_sprintf("You are already in our queue (reference %s). A person from our team will answer here.", ref), NULL);
	}
	pl_jw w;
	pl_jw_init(&w);
	pl_jw_object(&w);
	pl_jw_key(&w, "ref");
	pl_jw_string(&w, ref);
	if (*asked) {
		pl_jw_key(&w, "question");
		pl_jw_string(&w, asked);
	}
	pl_jw_end_object(&w);
	if (pl_kv_set(PL_SCOPE_PERSON, KEY_TICKET, pl_jw_done(&w, NULL)) != PL_OK) {
		pl_logf(PL_WARN, "keep ticket %s: %s", ref, error_text());
	}
	pl_logf(PL_INFO, "handoff %s conversation=%s user=%s question=%s", ref, ev->conversation, ev->user, pl_quote(asked));
	return pl_send_text(pl_sprintf("I have passed this conversation to our support team (reference %s). A person will answer here, usually within one working day.", ref), NULL);
}

/* on_handoff tells the person who from the team joined. */
static pl_status on_handoff(const pl_event *ev) {
	if (ev->handoff == NULL || *ev->handoff->agent == 0) return PL_OK;
	return pl_send_text(pl_sprintf("%s from our team has joined the conversation.", ev->handoff->agent), NULL);
}

/* on_handback greets the person back once the team handed the conversation
 * back, and forgets the ticket. */
static pl_status on_handback(const pl_event *ev) {
	if (pl_kv_delete(PL_SCOPE_PERSON, KEY_TICKET, NULL) != PL_OK) {
		pl_logf(PL_WARN, "forget ticket: %s", error_text());
	}
	if (ev->handoff != NULL && *ev->handoff->note) {
		pl_logf(PL_INFO, "handback %s by %s: %s", ev->handoff->id, ev->handoff->agent, ev->handoff->note);
	}
	return topics("I am back: thanks for your patience with our team! Anything else? Pick a topic, or type your question.");
}

static pl_status on_open(const pl_event *ev) {
	(void)ev;
	return topics(greeting);
}

static pl_status on_message(const pl_event *ev) {
	const char *text = trim_space(ev->text);
	if (wants_person(text)) return handoff(ev, text);
	const entry *e = faq_match(text);
	if (e != NULL) return answer(e);
	const char **ws;
	if (words(text, &ws) == 0) return topics(greeting);
	return not_sure(text);
}

static pl_status on_action(const pl_event *ev) {
	const pl_action *a = ev->action;
	if (a == NULL) return topics(pick);
	const char *id;
	if ((id = pl_has_prefix(a->id, "topic:")) != NULL) return topic_card(id);
	if ((id = pl_has_prefix(a->id, "faq:")) != NULL) {
		const entry *e = faq_entry(id);
		if (e == NULL) return topics("That question is no longer here. Pick a topic, or type your question.");
		return answer(e);
	}
	if (pl_streq(a->id, "helped")) return pl_send_text("Glad I could help! Type anything if you need more.", NULL);
	if (pl_streq(a->id, "human")) return handoff(ev, a->value);
	if (pl_streq(a->id, "topics")) return topics(pick);
	pl_logf(PL_WARN, "unknown action %s", pl_quote(a->id));
	return topics("I did not understand that. Pick a topic, or type your question.");
}

PASSERELLE_APP(.on_open = on_open, .on_message = on_message, .on_action = on_action,
               .on_handoff = on_handoff, .on_handback = on_handback);
