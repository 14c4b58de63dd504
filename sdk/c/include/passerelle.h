/*
 * passerelle.h: the C SDK for Passerelle mini-apps (guest ABI passerelle_v1,
 * see sdk/ABI.md and sdk/ABI_OPS.md).
 *
 * Freestanding C11 for clang --target=wasm32: no libc, no WASI. An app
 * defines its handlers with PASSERELLE_APP and calls the functions below;
 * the SDK exports passerelle_v1_on_event, decodes each event, encodes each
 * request and decodes each response.
 *
 * Memory: every pointer the SDK hands out (event fields, results of host
 * calls, pl_alloc, pl_sprintf, parsed JSON) lives in an arena that is reset
 * when the next event starts. Keep nothing from it across events: durable
 * state belongs in storage (pl_kv_*). Strings are NUL-terminated UTF-8; a
 * JSON string holding U+0000 is cut there. When memory cannot grow, the SDK
 * writes a line to the app log and traps: the platform discards that
 * instance and serves the next event with a fresh one.
 *
 * Errors: every host call returns a pl_status (PL_OK is 0). After a failed
 * call pl_last_error() tells which operation failed, its stable code and the
 * host's message. A handler returns a pl_status: PL_OK, or the status of a
 * call it could not handle; for a non-zero status that matches the last
 * failed call, the SDK writes "op: code: message" to the app log at level
 * error first, as the Go SDK does.
 *
 * Build (see sdk/c/README.md): `passerelle app build DIR`, or
 *   clang --target=wasm32 -mbulk-memory -nostdlib -ffreestanding -O2 -I sdk/c/include \
 *     -Wl,--no-entry -Wl,--gc-sections -Wl,--strip-all -Wl,--stack-first \
 *     -Wl,-z,stack-size=65536 -o app.wasm app.c sdk/c/src/passerelle.c
 */
#ifndef PASSERELLE_H
#define PASSERELLE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Status codes (ABI "Status codes"; the numbers never change) ---- */

typedef enum pl_status {
	PL_OK = 0,
	PL_BAD_REQUEST = 1,       /* a malformed request or event; the message names the field */
	PL_PERMISSION_DENIED = 2, /* the manifest does not grant the permission */
	PL_NOT_FOUND = 3,         /* the key, order, timer or conversation does not exist */
	PL_QUOTA_EXCEEDED = 4,    /* a size or count limit would be exceeded; nothing was written */
	PL_CONSENT_REQUIRED = 5,  /* the person has not granted the scope; they were asked */
	PL_CONFLICT = 6,          /* the request contradicts existing state */
	PL_UNAVAILABLE = 7,       /* the host could not serve the call now; retry later */
	PL_INTERNAL = 8,          /* a failure inside the host (or, from a handler, the app) */
	PL_UNKNOWN_OP = 9,        /* the operation is not offered by this host */
	PL_INSUFFICIENT_FUNDS = 10, /* the person's wallet holds less than the order costs; nothing was charged */
	PL_WINDOW_CLOSED = 11,      /* no service window: the person has not written to the business recently */
	PL_NOT_OPTED_IN = 12,       /* no opt-in to the purpose, nor a one-time subscription to the template */
	PL_OPTED_OUT = 13,          /* the person sent STOP to the business and has not sent START since */
	PL_RATE_LIMITED = 14        /* too many business-initiated messages (per person per day, or per second) */
} pl_status;

/* pl_status_code returns the stable code of st ("quota_exceeded"), or
 * "status_N" for a status this SDK does not know (treat it like PL_INTERNAL). */
const char *pl_status_code(pl_status st);

/* pl_error describes the last failed host call of the current event. */
typedef struct pl_error {
	const char *op;      /* dotted operation, "kv.set"; "" when no call failed */
	pl_status status;
	const char *code;    /* "quota_exceeded" */
	const char *message; /* the host's explanation: what was wrong and what to do */
} pl_error;

const pl_error *pl_last_error(void);

/* ---- Events (ABI "Events") ---- */

typedef struct pl_field {
	const char *name, *value;
} pl_field;

typedef struct pl_action {
	const char *id;    /* the button, list item or form id the app chose */
	const char *value; /* the button's value; "" when none */
	const pl_field *fields; /* form fields, in the order received */
	uint32_t nfields;
} pl_action;

typedef struct pl_payment {
	const char *order;
	const char *status; /* paid, declined, expired, refunded, partially_refunded */
	int64_t amount;     /* minor units of currency */
	const char *currency;
	int64_t refunded;
	const char *idempotency_key;
	const char *reason; /* why it was declined; "" otherwise */
} pl_payment;

typedef struct pl_timer {
	const char *id;
	const char *payload; /* the JSON the app gave to pl_timer_after; "" when none */
} pl_timer;

typedef struct pl_consent {
	const char *prompt;         /* the prompt's id */
	const char *const *scopes;  /* "identity.profile", "identity.phone" */
	uint32_t nscopes;
	bool granted;               /* false: the person refused */
} pl_consent;

/* pl_handoff_event says what became of a conversation the app handed to
 * the merchant's staff (pl_handoff): taken by an agent (a handoff event)
 * or handed back (a handback event, with the agent's note). */
typedef struct pl_handoff_event {
	const char *id;     /* the handoff, as pl_handoff returned it */
	const char *status; /* taken or returned */
	const char *agent;  /* the staff member's display name */
	const char *note;   /* handback: what the agent tells the app; "" otherwise */
} pl_handoff_event;

/* pl_message_status says that one of the app's messages (pl_send,
 * pl_notify, a share, a broadcast) reached a new state on the person's
 * surface (a status event). States only move forward; failed is final and
 * read implies delivered: the app hears each state at most once. Only an
 * app whose manifest lists "status" in "events" receives them. */
typedef struct pl_message_status {
	const char *message; /* the id pl_send or pl_notify returned (msg_...) */
	const char *state;   /* delivered, read or failed */
	const char *code;    /* failed: window_closed, opted_out, undeliverable, ...; "" otherwise */
	int64_t network_code; /* failed: the network's own number (WhatsApp's 131047); 0 when none */
	const char *surface; /* whatsapp, messenger, instagram, web */
} pl_message_status;

/* Event types. */
#define PL_EVENT_OPEN "open"
#define PL_EVENT_MESSAGE "message"
#define PL_EVENT_ACTION "action"
#define PL_EVENT_PAYMENT "payment"
#define PL_EVENT_TIMER "timer"
#define PL_EVENT_CONSENT "consent"
#define PL_EVENT_HANDOFF "handoff"   /* an agent took the conversation the app handed off */
#define PL_EVENT_HANDBACK "handback" /* the merchant's staff handed the conversation back */
#define PL_EVENT_STATUS "status"     /* one of the app's messages was delivered, read or failed */

/* pl_event is one decoded event. Absent strings are "" (never NULL); absent
 * objects are NULL. user is the person's pseudonymous id for this app. */
typedef struct pl_event {
	int v;
	const char *type, *id, *app, *conversation, *user, *surface;
	const char *text; /* message; for open, the payload of a shared card */
	const pl_action *action;
	const pl_payment *payment;
	const pl_timer *timer;
	const pl_consent *consent;
	const pl_handoff_event *handoff; /* handoff, handback */
	const pl_message_status *status; /* status */
	const char *raw; /* the event JSON as the host sent it */
	uint32_t raw_len;
} pl_event;

/* pl_action_field returns the value of a submitted form field, or NULL. */
const char *pl_action_field(const pl_action *a, const char *name);
/* pl_consent_has reports whether the prompt asked for scope. */
bool pl_consent_has(const pl_consent *c, const char *scope);

/* ---- The app ---- */

typedef pl_status (*pl_handler)(const pl_event *ev);

/* pl_app routes events to handlers by type; NULL handlers acknowledge and
 * ignore their events. on_other gets types without a handler of their own
 * (including types added to the ABI later). */
typedef struct pl_app {
	pl_handler on_open, on_message, on_action, on_payment, on_timer, on_consent, on_other;
	pl_handler on_handoff, on_handback;
	pl_handler on_status;
} pl_app;

/* PASSERELLE_APP defines the app, once, in one .c file:
 *   PASSERELLE_APP(.on_open = on_open, .on_message = on_message); */
#define PASSERELLE_APP(...) const pl_app passerelle_app = {__VA_ARGS__}
extern const pl_app passerelle_app;

/* ---- Logs ---- */

typedef enum pl_level { PL_DEBUG = 0, PL_INFO = 1, PL_WARN = 2, PL_ERROR = 3 } pl_level;

void pl_log(pl_level level, const char *msg);
/* pl_logf formats like pl_sprintf. */
void pl_logf(pl_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- Chat (permission "chat") ---- */

typedef struct pl_button {
	const char *id, *title, *value; /* value may be NULL */
} pl_button;

typedef struct pl_list_item {
	const char *id, *title, *description; /* description may be NULL */
} pl_list_item;

typedef struct pl_list {
	const char *button; /* label of the control opening the list; may be NULL */
	const pl_list_item *items;
	uint32_t nitems;
} pl_list;

typedef struct pl_form_field {
	const char *name, *label;
	const char *type; /* "text" (NULL), "number", "phone", "email" */
	bool required;
} pl_form_field;

typedef struct pl_form {
	const char *id, *submit; /* submit may be NULL */
	const pl_form_field *fields;
	uint32_t nfields;
} pl_form;

/* pl_card: NULL strings are left out. At most one of buttons, list, form. */
typedef struct pl_card {
	const char *title, *text, *image; /* image: an https URL */
	const pl_button *buttons;
	uint32_t nbuttons;
	const pl_list *list;
	const pl_form *form;
} pl_card;

#define PL_COUNT(a) ((uint32_t)(sizeof(a) / sizeof((a)[0])))

/* pl_send_text and pl_send_card post into the event's conversation
 * (chat.send). id, when not NULL, receives the message id. */
pl_status pl_send_text(const char *text, const char **id);
pl_status pl_send_card(const pl_card *card, const char **id);
/* pl_share offers the person a card that opens this app (chat.share; title,
 * text and image only); payload comes back as the text of the open event.
 * conversation NULL lets the person choose where (*prompted becomes true). */
pl_status pl_share(const pl_card *card, const char *payload, const char *conversation,
                   const char **id, bool *prompted);

/* pl_handoff hands the event's conversation to the merchant's staff
 * (chat.handoff): they answer the person in the merchant inbox, in the same
 * conversation, and the person's messages no longer reach the app (payment
 * outcomes and timers still do) until an agent hands it back: a handoff
 * event when an agent takes it, a handback event, with the agent's note,
 * when it is back. reason is required (at most 200 characters); summary
 * (at most 2000) may be NULL; fields are at most 20 named facts for the
 * agent (nfields 0: none). id (may be NULL) receives the handoff's id;
 * *already (may be NULL) becomes true when the conversation was handed off
 * already and nothing changed. */
pl_status pl_handoff(const char *reason, const char *summary, const pl_field *fields, uint32_t nfields,
                     const char **id, bool *already);

/* ---- Storage (permission "storage") ---- */

typedef enum pl_scope {
	PL_SCOPE_APP = 0,   /* shared by everyone using the app */
	PL_SCOPE_PERSON = 1 /* private to the person of the event */
} pl_scope;

/* pl_kv_get reads key; PL_NOT_FOUND when it does not exist. *value gets the
 * value (NUL-terminated; a binary value is decoded from base64), *len its
 * length in bytes (len may be NULL). */
pl_status pl_kv_get(pl_scope scope, const char *key, const char **value, uint32_t *len);
/* pl_kv_set stores text; PL_QUOTA_EXCEEDED above a size or total quota. */
pl_status pl_kv_set(pl_scope scope, const char *key, const char *value);
/* pl_kv_set_bytes stores any bytes (sent as value_b64). */
pl_status pl_kv_set_bytes(pl_scope scope, const char *key, const void *data, uint32_t n);
/* pl_kv_delete removes key; *deleted (may be NULL) tells whether it existed. */
pl_status pl_kv_delete(pl_scope scope, const char *key, bool *deleted);

typedef struct pl_kv_page {
	const char *const *keys;
	uint32_t nkeys;
	const char *cursor; /* pass back for the next page; "" after the last one */
} pl_kv_page;

/* pl_kv_list lists up to limit keys (0: the host's default, 100) starting
 * with prefix, in byte order, after cursor (NULL or "" for the first page). */
pl_status pl_kv_list(pl_scope scope, const char *prefix, const char *cursor, uint32_t limit,
                     pl_kv_page *page);

/* ---- Identity (permissions "identity.profile", "identity.phone") ---- */

#define PL_FIELD_NAME 1u  /* needs "identity.profile" and the person's consent */
#define PL_FIELD_PHONE 2u /* needs "identity.phone" and the person's consent */

typedef struct pl_profile {
	const char *user;     /* the person's id in this app (the event's user) */
	const char *union_id; /* their id across the merchant's apps */
	const char *name, *phone; /* "" unless asked for */
} pl_profile;

/* pl_profile_get asks for fields (PL_FIELD_NAME when 0). Until the person
 * grants them it returns PL_CONSENT_REQUIRED: the platform has asked them,
 * and their answer arrives as a consent event (on_consent). */
pl_status pl_profile_get(unsigned fields, pl_profile *out);

/* ---- Payments (permission "pay") ---- */

typedef struct pl_order {
	const char *order;
	const char *status; /* awaiting_confirmation, paid, declined, expired, partially_refunded, refunded */
	int64_t amount;
	const char *currency, *description, *idempotency_key;
	int64_t refunded;
	const char *reason, *expires; /* "" when absent */
} pl_order;

/* pl_pay_request creates an order the person confirms in host-drawn UI; the
 * outcome arrives as a payment event. amount is in minor units (1250 with
 * "EUR" is 12.50 EUR). A retry with the same idempotency_key returns the
 * same order; the key with other fields is PL_CONFLICT. out may be NULL. */
pl_status pl_pay_request(int64_t amount, const char *currency, const char *description,
                         const char *idempotency_key, pl_order *out);
/* pl_pay_refund refunds amount (0: all that is left) of a paid order. */
pl_status pl_pay_refund(const char *order, int64_t amount, const char *idempotency_key, pl_order *out);
pl_status pl_pay_status(const char *order, pl_order *out);

/* ---- Timers (permission "timer") ---- */

/* pl_timer_after sets a timer: after after_ms the app gets a timer event
 * carrying payload_json (any JSON document, or NULL). id may be NULL. A
 * payload that is not valid JSON is PL_BAD_REQUEST, and nothing is sent. */
pl_status pl_timer_after(uint64_t after_ms, const char *payload_json, const char **id);
/* pl_timer_cancel cancels a pending timer; PL_NOT_FOUND when it is not. */
pl_status pl_timer_cancel(const char *id);

/* ---- Memory and strings ---- */

/* pl_alloc returns n bytes (8-aligned, zeroed) of arena memory, valid until
 * the event ends. */
void *pl_alloc(uint32_t n);
/* pl_strndup copies n bytes of s into the arena and NUL-terminates them. */
char *pl_strndup(const char *s, uint32_t n);
/* pl_sprintf formats into the arena: %s %d %i %u %x %c %% with the l, ll
 * and z modifiers, and %.*s. */
char *pl_sprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *pl_vsprintf(const char *fmt, va_list ap);
/* pl_quote returns s double-quoted, with Go's strconv.Quote escapes for
 * quotes, backslashes, control characters and invalid UTF-8 bytes. */
char *pl_quote(const char *s);

uint32_t pl_strlen(const char *s);
bool pl_streq(const char *a, const char *b);
/* pl_has_prefix returns the rest of s after prefix, or NULL. */
const char *pl_has_prefix(const char *s, const char *prefix);

/* ---- JSON ---- */

/* pl_json is a parsed JSON value. Objects keep their members in order. */
typedef enum pl_json_kind {
	PL_JSON_NULL, PL_JSON_FALSE, PL_JSON_TRUE, PL_JSON_NUMBER, PL_JSON_STRING, PL_JSON_ARRAY, PL_JSON_OBJECT
} pl_json_kind;

typedef struct pl_json pl_json;
struct pl_json {
	pl_json_kind kind;
	const char *key;  /* for object members */
	const char *str;  /* STRING: the unescaped text; NUMBER: its text */
	uint32_t len;     /* STRING: bytes; ARRAY, OBJECT: number of children */
	pl_json *child;   /* first element or member */
	pl_json *next;    /* next sibling */
	const char *raw;  /* the value's JSON text, inside the parsed input */
	uint32_t raw_len;
};

/* pl_json_parse parses one document; NULL when it is not valid JSON. */
pl_json *pl_json_parse(const char *s, uint32_t n);
/* pl_json_get returns the member key of an object, or NULL. */
pl_json *pl_json_get(const pl_json *obj, const char *key);
/* pl_json_str returns a string value, or def for anything else (or NULL). */
const char *pl_json_str(const pl_json *v, const char *def);
/* pl_json_int returns an integer number, or def. */
int64_t pl_json_int(const pl_json *v, int64_t def);

/* pl_jw writes JSON into the arena. Start with pl_jw_init; pl_jw_key before
 * each member of an object; pl_jw_done returns the NUL-terminated text. */
typedef struct pl_jw {
	char *b;
	uint32_t n, cap;
	uint32_t depth;
	uint64_t comma; /* bit d: a value was written at depth d */
} pl_jw;

void pl_jw_init(pl_jw *w);
void pl_jw_object(pl_jw *w);
void pl_jw_end_object(pl_jw *w);
void pl_jw_array(pl_jw *w);
void pl_jw_end_array(pl_jw *w);
void pl_jw_key(pl_jw *w, const char *key);
/* pl_jw_string writes s as a JSON string; invalid UTF-8 becomes U+FFFD. */
void pl_jw_string(pl_jw *w, const char *s);
void pl_jw_stringn(pl_jw *w, const char *s, uint32_t n);
void pl_jw_int(pl_jw *w, int64_t v);
void pl_jw_bool(pl_jw *w, bool v);
void pl_jw_null(pl_jw *w);
/* pl_jw_raw writes an already-encoded JSON value. */
void pl_jw_raw(pl_jw *w, const char *json, uint32_t n);
const char *pl_jw_done(pl_jw *w, uint32_t *len);

#ifdef __cplusplus
}
#endif
#endif /* PASSERELLE_H */
