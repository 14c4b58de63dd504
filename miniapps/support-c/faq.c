/*
 * faq.c: what the support bot knows and how it matches a question in the
 * person's own words against it (the port of miniapps/support/faq.go).
 */
#include "support.h"

const topic faq_topics[] = {
	{"orders", "Orders & delivery"},
	{"payments", "Payments & refunds"},
	{"account", "Account & privacy"},
};
const uint32_t faq_ntopics = PL_COUNT(faq_topics);

#define WORDS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* The demo help centre of a shop that delivers. */
const entry faq_entries[] = {
	{"where", "orders", "Where is my order?", "Where is my order?",
	 "Orders leave within one working day. The app that took your order sends its status in this chat; if it has been more than 3 days, ask for a person and quote your order number.",
	 WORDS("where", "track", "tracking", "status", "late", "arrive", "delivery", "shipping", "parcel", "package")},
	{"address", "orders", "Change the address", "Can I change the delivery address?",
	 "Yes, until the order leaves: ask for a person with your order number and the new address.",
	 WORDS("address", "change", "move", "moved", "wrong", "street")},
	{"damaged", "orders", "Item arrived damaged", "My item arrived damaged",
	 "Sorry about that. Send a photo to a person from our team and we will replace the item or refund it in full.",
	 WORDS("damaged", "broken", "defective", "faulty", "torn", "missing", "replace", "replacement")},
	{"refund", "payments", "How refunds work", "How do refunds work?",
	 "Refunds go back to the wallet you paid from, in full or in part, and appear there at once. The app tells you in this chat when it refunds you.",
	 WORDS("refund", "refunds", "refunded", "money", "back", "return", "returns", "reimburse")},
	{"declined", "payments", "Payment declined", "Why was my payment declined?",
	 "Usually the wallet held too little money, or the request expired before you confirmed it. Nothing is charged for a declined payment: top up and try again.",
	 WORDS("declined", "decline", "failed", "fail", "rejected", "insufficient", "funds", "payment", "pay", "charged", "charge")},
	{"stop", "account", "Stop messages", "How do I stop messages?",
	 "Send STOP in any chat: businesses can then no longer message you, on every app you use. Send START to allow them again.",
	 WORDS("stop", "unsubscribe", "spam", "messages", "notifications", "opt", "out")},
	{"data", "account", "What you know about me", "What do you know about me?",
	 "Apps see an id made for them alone, never your account id. Your name or phone reach an app only after you allow it, and you can take that back at any time.",
	 WORDS("data", "privacy", "private", "personal", "know", "delete", "gdpr", "phone", "name", "information")},
};
const uint32_t faq_nentries = PL_COUNT(faq_entries);

const entry *faq_entry(const char *id) {
	for (uint32_t i = 0; i < faq_nentries; i++) {
		if (pl_streq(faq_entries[i].id, id)) return &faq_entries[i];
	}
	return NULL;
}

const topic *faq_topic(const char *id) {
	for (uint32_t i = 0; i < faq_ntopics; i++) {
		if (pl_streq(faq_topics[i].id, id)) return &faq_topics[i];
	}
	return NULL;
}

static bool in(const char *const *set, const char *w) {
	for (; *set; set++) {
		if (pl_streq(*set, w)) return true;
	}
	return false;
}

/* stopwords carry no meaning for matching. */
static const char *const stopwords[] = {
	"a", "an", "the", "i", "me", "my", "is", "are", "was",
	"it", "to", "of", "for", "and", "or", "in", "on", "at",
	"do", "does", "did", "can", "how", "what", "why", "you",
	"your", "be", "has", "have", "not", "hasn", "t", "s",
	"with", "this", "that", "please", "hi", "hello", "there", NULL,
};

/* handoff_words mean the person wants a human. */
static const char *const handoff_words[] = {
	"human", "person", "agent", "someone", "operator", "representative", "staff", "somebody", "people", NULL,
};

/* ---- Runes: what Go's unicode package answers, for the scripts people
 * write support questions in (Latin, Greek, Cyrillic); other scripts' letters
 * count as letters, their punctuation and symbols as separators. ---- */

/* next_rune decodes the rune at s, or returns 0xFFFD with length 1 for an
 * invalid byte, as Go's range over a string does. */
static uint32_t next_rune(const unsigned char *s, uint32_t n, uint32_t *len) {
	unsigned char c = s[0];
	*len = 1;
	if (c < 0x80) return c;
	uint32_t l, r, min;
	if ((c & 0xE0) == 0xC0) l = 2, r = c & 0x1F, min = 0x80;
	else if ((c & 0xF0) == 0xE0) l = 3, r = c & 0x0F, min = 0x800;
	else if ((c & 0xF8) == 0xF0) l = 4, r = c & 0x07, min = 0x10000;
	else return 0xFFFD;
	if (n < l) return 0xFFFD;
	for (uint32_t k = 1; k < l; k++) {
		if ((s[k] & 0xC0) != 0x80) return 0xFFFD;
		r = r << 6 | (s[k] & 0x3F);
	}
	if (r < min || r > 0x10FFFF || (r >= 0xD800 && r <= 0xDFFF)) return 0xFFFD;
	*len = l;
	return r;
}

static uint32_t put_rune(char *d, uint32_t r) {
	if (r < 0x80) {
		d[0] = (char)r;
		return 1;
	}
	if (r < 0x800) {
		d[0] = (char)(0xC0 | r >> 6), d[1] = (char)(0x80 | (r & 0x3F));
		return 2;
	}
	if (r < 0x10000) {
		d[0] = (char)(0xE0 | r >> 12), d[1] = (char)(0x80 | (r >> 6 & 0x3F)), d[2] = (char)(0x80 | (r & 0x3F));
		return 3;
	}
	d[0] = (char)(0xF0 | r >> 18), d[1] = (char)(0x80 | (r >> 12 & 0x3F));
	d[2] = (char)(0x80 | (r >> 6 & 0x3F)), d[3] = (char)(0x80 | (r & 0x3F));
	return 4;
}

/* letter_or_digit approximates unicode.IsLetter || unicode.IsDigit. */
static bool letter_or_digit(uint32_t r) {
	if (r < 0x80) return (r >= '0' && r <= '9') || ((r | 0x20) >= 'a' && (r | 0x20) <= 'z');
	if (r < 0xC0) return r == 0xAA || r == 0xB5 || r == 0xBA;
	if (r == 0xD7 || r == 0xF7) return false;
	if (r >= 0x300 && r <= 0x36F) return false;   /* combining marks */
	if (r >= 0x2000 && r <= 0x2BFF) return false; /* punctuation, symbols, arrows, shapes */
	if (r >= 0x3000 && r <= 0x303F) return false; /* CJK punctuation */
	if (r >= 0xD800 && r <= 0xF8FF) return false; /* surrogates, private use */
	if (r >= 0xFE00 && r <= 0xFE0F) return false; /* variation selectors */
	if (r >= 0xFF00 && r <= 0xFF0F) return false; /* full-width punctuation */
	if (r >= 0xFFF0 && r <= 0xFFFF) return false; /* specials, U+FFFD */
	if (r >= 0x1F000 && r <= 0x1FAFF) return false; /* emoji */
	return true;
}

/* to_lower approximates unicode.ToLower for Latin, Greek and Cyrillic. */
static uint32_t to_lower(uint32_t r) {
	if (r >= 'A' && r <= 'Z') return r + 32;
	if (r < 0xC0) return r;
	if (r <= 0xDE && r != 0xD7) return r + 32;
	if (r == 0x130) return 'i';
	if (r >= 0x100 && r <= 0x137 && r % 2 == 0) return r + 1;
	if (r >= 0x139 && r <= 0x148 && r % 2 == 1) return r + 1;
	if (r >= 0x14A && r <= 0x177 && r % 2 == 0) return r + 1;
	if (r == 0x178) return 0xFF;
	if (r >= 0x179 && r <= 0x17E && r % 2 == 1) return r + 1;
	if (r >= 0x391 && r <= 0x3AB && r != 0x3A2) return r + 32;
	if (r >= 0x410 && r <= 0x42F) return r + 32;
	if (r >= 0x400 && r <= 0x40F) return r + 80;
	return r;
}

/* stem folds plurals and common endings so "refunds", "refunded" and
 * "refund" meet. */
static const char *stem(const char *w) {
	static const char *const suffixes[] = {"ing", "ed", "es", "s"};
	uint32_t n = pl_strlen(w);
	for (uint32_t i = 0; i < PL_COUNT(suffixes); i++) {
		uint32_t k = pl_strlen(suffixes[i]);
		if (n > k + 3 && pl_streq(w + n - k, suffixes[i])) return pl_strndup(w, n - k);
	}
	return w;
}

uint32_t words(const char *text, const char ***out) {
	const unsigned char *s = (const unsigned char *)text;
	uint32_t n = pl_strlen(text);
	if (n > 2000) n = 2000;
	const char **ws = pl_alloc((n / 2 + 1) * sizeof *ws);
	char *word = pl_alloc(n * 2 + 4); /* a lower-case rune is at most one byte longer */
	uint32_t count = 0, wl = 0;
	for (uint32_t i = 0; i <= n;) {
		uint32_t l = 1, r = i < n ? next_rune(s + i, n - i, &l) : ' ';
		if (i < n && letter_or_digit(r)) {
			wl += put_rune(word + wl, to_lower(r));
		} else if (wl > 0) {
			word[wl] = 0;
			if (!in(stopwords, word)) ws[count++] = stem(pl_strndup(word, wl));
			wl = 0;
		}
		i += l;
	}
	*out = ws;
	return count;
}

bool wants_person(const char *text) {
	const char **ws;
	uint32_t n = words(text, &ws);
	for (uint32_t i = 0; i < n; i++) {
		if (in(handoff_words, ws[i])) return true;
	}
	return false;
}

static bool list_has(const char **list, uint32_t n, const char *w) {
	for (uint32_t i = 0; i < n; i++) {
		if (pl_streq(list[i], w)) return true;
	}
	return false;
}

/* A keyword counts 2, a word of the question 1; at least 2 is needed, and
 * the earlier entry wins a tie. */
const entry *faq_match(const char *text) {
	const char **q;
	uint32_t nq = words(text, &q);
	if (nq == 0) return NULL;
	const entry *best = NULL;
	int best_score = 1;
	for (uint32_t i = 0; i < faq_nentries; i++) {
		const entry *e = &faq_entries[i];
		const char *kw[16];
		uint32_t nkw = 0;
		for (const char *const *k = e->keywords; *k && nkw < PL_COUNT(kw); k++) kw[nkw++] = stem(*k);
		const char **qw;
		uint32_t nqw = words(e->question, &qw);
		int score = 0;
		for (uint32_t k = 0; k < nq; k++) {
			if (list_has(kw, nkw, q[k])) score += 2;
			else if (list_has(qw, nqw, q[k])) score++;
		}
		if (score > best_score) best = e, best_score = score;
	}
	return best;
}

const char *clip(const char *s, uint32_t n) {
	if (pl_strlen(s) <= n) return s;
	while (n > 0 && (s[n] & 0xC0) == 0x80) n--;
	return pl_strndup(s, n);
}

/* is_space is unicode.IsSpace. */
static bool is_space(uint32_t r) {
	switch (r) {
	case '\t': case '\n': case '\v': case '\f': case '\r': case ' ':
	case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
		return true;
	}
	return r >= 0x2000 && r <= 0x200A;
}

const char *trim_space(const char *text) {
	const unsigned char *s = (const unsigned char *)text;
	uint32_t n = pl_strlen(text), start = 0, end = n;
	while (start < n) {
		uint32_t l, r = next_rune(s + start, n - start, &l);
		if (!is_space(r)) break;
		start += l;
	}
	while (end > start) {
		uint32_t b = end - 1;
		while (b > start && (s[b] & 0xC0) == 0x80 && end - b < 4) b--;
		uint32_t l, r = next_rune(s + b, end - b, &l);
		if (b + l != end) r = 0xFFFD, b = end - 1; /* an invalid tail byte */
		if (!is_space(r)) break;
		end = b;
	}
	return pl_strndup(text + start, end - start);
}
