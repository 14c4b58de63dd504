/*
 * passerelle.c: the C SDK for Passerelle mini-apps. See passerelle.h for the
 * API and README.md for how to build an app.
 *
 * Layout: the passerelle_v1 imports; the libc functions clang may call
 * (memcpy, memset, memmove, memcmp); the arena; strings and formatting; the
 * JSON reader and writer; host calls; the operations; the on_event export.
 */
#include "passerelle.h"

/* ---- Imports (sdk/ABI.md "Imports"). Unused ones are dropped by the
 * linker, so a module imports only the operations the app calls. ---- */

#define PL_IMPORT(name) __attribute__((import_module("passerelle_v1"), import_name(name)))

PL_IMPORT("event_read") uint32_t pl__event_read(void *ptr, uint32_t len);
PL_IMPORT("result_read") uint32_t pl__result_read(void *ptr, uint32_t len);
PL_IMPORT("log") void pl__log(uint32_t level, const void *ptr, uint32_t len);
PL_IMPORT("chat_send") uint64_t pl__chat_send(const void *ptr, uint32_t len);
PL_IMPORT("chat_share") uint64_t pl__chat_share(const void *ptr, uint32_t len);
PL_IMPORT("chat_handoff") uint64_t pl__chat_handoff(const void *ptr, uint32_t len);
PL_IMPORT("kv_get") uint64_t pl__kv_get(const void *ptr, uint32_t len);
PL_IMPORT("kv_set") uint64_t pl__kv_set(const void *ptr, uint32_t len);
PL_IMPORT("kv_delete") uint64_t pl__kv_delete(const void *ptr, uint32_t len);
PL_IMPORT("kv_list") uint64_t pl__kv_list(const void *ptr, uint32_t len);
PL_IMPORT("identity_profile") uint64_t pl__identity_profile(const void *ptr, uint32_t len);
PL_IMPORT("pay_request") uint64_t pl__pay_request(const void *ptr, uint32_t len);
PL_IMPORT("pay_refund") uint64_t pl__pay_refund(const void *ptr, uint32_t len);
PL_IMPORT("pay_status") uint64_t pl__pay_status(const void *ptr, uint32_t len);
PL_IMPORT("timer_after") uint64_t pl__timer_after(const void *ptr, uint32_t len);
PL_IMPORT("timer_cancel") uint64_t pl__timer_cancel(const void *ptr, uint32_t len);

/* ---- The libc functions the compiler may emit calls to. Built with
 * -mbulk-memory (see README.md), the builtins below are single memory.copy
 * and memory.fill instructions, not loops. ---- */

void *memcpy(void *restrict dst, const void *restrict src, size_t n) {
	__builtin_memcpy(dst, src, n);
	return dst;
}

void *memmove(void *dst, const void *src, size_t n) {
	__builtin_memmove(dst, src, n);
	return dst;
}

void *memset(void *dst, int c, size_t n) {
	__builtin_memset(dst, c, n);
	return dst;
}

int memcmp(const void *a, const void *b, size_t n) {
	const unsigned char *x = a, *y = b;
	while (n >= 8) {
		uint64_t p, q;
		__builtin_memcpy(&p, x, 8);
		__builtin_memcpy(&q, y, 8);
		if (p != q) break;
		x += 8, y += 8, n -= 8;
	}
	for (; n; n--, x++, y++) {
		if (*x != *y) return *x - *y;
	}
	return 0;
}

/* ---- Word-at-a-time scanning. The sandbox makes guest code interruptible,
 * so every loop iteration costs a check: scanners look at 8 bytes per
 * iteration where strings can be long. ---- */

#define LOWS 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

static inline uint64_t load64(const unsigned char *p) {
	uint64_t v;
	__builtin_memcpy(&v, p, 8);
	return v;
}

/* special flags (with the high bit of the byte) the bytes of x that a JSON
 * string cannot copy verbatim: '"', '\\', control characters and non-ASCII.
 * The lowest flag is exact; flags above it may be spurious. */
static inline uint64_t special(uint64_t x) {
	uint64_t q = x ^ (LOWS * '"'), bs = x ^ (LOWS * '\\');
	return (((q - LOWS) & ~q) | ((bs - LOWS) & ~bs) | ((x - LOWS * 0x20) & ~x) | x) & HIGHS;
}

static inline bool plain(unsigned char c) { return c >= 0x20 && c < 0x80 && c != '"' && c != '\\'; }

/* in_memory reports whether the 8 bytes at p lie inside the memory, so
 * that a scanner may read past the end of a string into bytes it ignores. */
static inline bool in_memory(const unsigned char *p) {
	return (uintptr_t)p + 8 <= (uintptr_t)__builtin_wasm_memory_size(0) * 65536;
}

/* plain_run returns the index of the first byte of s at or after i (below
 * n) that is not plain, or n. */
static uint32_t plain_run(const unsigned char *s, uint32_t i, uint32_t n) {
	if (i >= n) return n;
	if (n - i < 8) {
		if (!in_memory(s + i)) {
			while (i < n && plain(s[i])) i++;
			return i;
		}
		uint64_t m = special(load64(s + i)) & (((uint64_t)1 << ((n - i) * 8)) - 1);
		return m ? i + (uint32_t)(__builtin_ctzll(m) >> 3) : n;
	}
	do {
		uint64_t m = special(load64(s + i));
		if (m) return i + (uint32_t)(__builtin_ctzll(m) >> 3);
		i += 8;
	} while (n - i >= 8);
	return plain_run(s, i, n);
}

/* ---- The arena: a bump allocator over the memory above the linker's
 * __heap_base, reset when an event starts. ---- */

extern unsigned char __heap_base;

static uintptr_t arena_top, arena_end;

static void out_of_memory(uint32_t n) {
	static const char msg[] = "passerelle: out of memory: the event needed more than the app's memory_pages limit allows; allocate less per event";
	(void)n;
	pl__log(PL_ERROR, msg, sizeof msg - 1);
	__builtin_trap();
}

static void arena_reset(void) {
	arena_top = ((uintptr_t)&__heap_base + 7) & ~(uintptr_t)7;
	arena_end = (uintptr_t)__builtin_wasm_memory_size(0) * 65536;
}

/* arena_fit makes sure the arena reaches end, growing the memory. */
static void arena_fit(uintptr_t end) {
	if (arena_end == 0) arena_reset();
	if (end <= arena_end) return;
	if (end < arena_top) out_of_memory(0); /* wrapped around */
	uintptr_t pages = (end - arena_end + 65535) / 65536;
	if (__builtin_wasm_memory_grow(0, pages) == (size_t)-1) out_of_memory((uint32_t)(end - arena_top));
	arena_end += pages * 65536;
}

/* arena_raw returns n bytes that are not zeroed. */
static void *arena_raw(uint32_t n) {
	if (arena_end == 0) arena_reset();
	uintptr_t p = arena_top;
	arena_fit(p + n);
	arena_top = (p + n + 7) & ~(uintptr_t)7;
	return (void *)p;
}

/* arena_grow resizes the block p of old bytes to n bytes, in place when it
 * is the last one allocated. */
static void *arena_grow(void *p, uint32_t old, uint32_t n) {
	uintptr_t at = (uintptr_t)p;
	if (p != NULL && ((at + old + 7) & ~(uintptr_t)7) == arena_top) {
		arena_fit(at + n);
		arena_top = (at + n + 7) & ~(uintptr_t)7;
		return p;
	}
	void *q = arena_raw(n);
	if (old) memcpy(q, p, old);
	return q;
}

void *pl_alloc(uint32_t n) {
	void *p = arena_raw(n);
	memset(p, 0, n);
	return p;
}

char *pl_strndup(const char *s, uint32_t n) {
	char *d = arena_raw(n + 1);
	if (n) memcpy(d, s, n);
	d[n] = 0;
	return d;
}

/* ---- Strings ---- */

uint32_t pl_strlen(const char *s) {
	if (s == NULL) return 0;
	const char *p = s;
	if (!in_memory((const unsigned char *)p)) {
		while (*p) p++;
		return (uint32_t)(p - s);
	}
	/* The first word may be unaligned; the following ones are aligned, and
	 * aligned words never cross the end of memory. */
	uint64_t x = load64((const unsigned char *)p);
	uint64_t z = (x - LOWS) & ~x & HIGHS;
	if (z) return (uint32_t)(__builtin_ctzll(z) >> 3);
	p = (const char *)(((uintptr_t)p + 8) & ~(uintptr_t)7);
	for (;;) {
		x = load64((const unsigned char *)p);
		z = (x - LOWS) & ~x & HIGHS;
		if (z) return (uint32_t)(p - s) + (uint32_t)(__builtin_ctzll(z) >> 3);
		p += 8;
	}
}

bool pl_streq(const char *a, const char *b) {
	if (a == NULL) a = "";
	if (b == NULL) b = "";
	if (*a != *b) return false; /* most unequal strings differ at once */
	uint32_t n = pl_strlen(a);
	return pl_strlen(b) == n && memcmp(a, b, n) == 0;
}

const char *pl_has_prefix(const char *s, const char *prefix) {
	if (s == NULL) return NULL;
	while (*prefix) {
		if (*s++ != *prefix++) return NULL;
	}
	return s;
}

static const char *nz(const char *s) { return s ? s : ""; }

/* A growable byte buffer in the arena. */
typedef struct buf {
	char *b;
	uint32_t n, cap;
} buf;

static void buf_need(buf *b, uint32_t more) {
	if (b->n + more <= b->cap) return;
	uint32_t cap = b->cap ? b->cap * 2 : 64;
	while (cap < b->n + more) cap *= 2;
	b->b = arena_grow(b->b, b->cap, cap);
	b->cap = cap;
}

static void buf_add(buf *b, const char *s, uint32_t n) {
	buf_need(b, n);
	memcpy(b->b + b->n, s, n);
	b->n += n;
}

static void buf_byte(buf *b, char c) {
	buf_need(b, 1);
	b->b[b->n++] = c;
}

static char *buf_done(buf *b, uint32_t *len) {
	buf_byte(b, 0);
	if (len) *len = b->n - 1;
	return b->b;
}

static void buf_uint(buf *b, uint64_t v, unsigned base) {
	char tmp[24];
	int i = sizeof tmp;
	do {
		tmp[--i] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	buf_add(b, tmp + i, sizeof tmp - i);
}

static void buf_int(buf *b, int64_t v) {
	if (v < 0) {
		buf_byte(b, '-');
		buf_uint(b, (uint64_t)0 - (uint64_t)v, 10);
		return;
	}
	buf_uint(b, (uint64_t)v, 10);
}

/* utf8_next decodes the rune at s[i] (i < n) and returns its length, or 0
 * for an invalid sequence (including overlong forms and surrogates). */
static uint32_t utf8_next(const unsigned char *s, uint32_t i, uint32_t n, uint32_t *rune) {
	unsigned char c = s[i];
	if (c < 0x80) {
		*rune = c;
		return 1;
	}
	uint32_t len, r, min;
	if ((c & 0xE0) == 0xC0) len = 2, r = c & 0x1F, min = 0x80;
	else if ((c & 0xF0) == 0xE0) len = 3, r = c & 0x0F, min = 0x800;
	else if ((c & 0xF8) == 0xF0) len = 4, r = c & 0x07, min = 0x10000;
	else return 0;
	if (n - i < len) return 0;
	for (uint32_t k = 1; k < len; k++) {
		if ((s[i + k] & 0xC0) != 0x80) return 0;
		r = r << 6 | (s[i + k] & 0x3F);
	}
	if (r < min || r > 0x10FFFF || (r >= 0xD800 && r <= 0xDFFF)) return 0;
	*rune = r;
	return len;
}

static void buf_rune(buf *b, uint32_t r) {
	char t[4];
	if (r < 0x80) {
		buf_byte(b, (char)r);
	} else if (r < 0x800) {
		t[0] = (char)(0xC0 | r >> 6), t[1] = (char)(0x80 | (r & 0x3F));
		buf_add(b, t, 2);
	} else if (r < 0x10000) {
		t[0] = (char)(0xE0 | r >> 12), t[1] = (char)(0x80 | (r >> 6 & 0x3F)), t[2] = (char)(0x80 | (r & 0x3F));
		buf_add(b, t, 3);
	} else {
		t[0] = (char)(0xF0 | r >> 18), t[1] = (char)(0x80 | (r >> 12 & 0x3F));
		t[2] = (char)(0x80 | (r >> 6 & 0x3F)), t[3] = (char)(0x80 | (r & 0x3F));
		buf_add(b, t, 4);
	}
}

/* buf_quote writes s double-quoted with Go's strconv.Quote escapes for
 * quotes, backslashes, control characters, invalid bytes and the invisible
 * runes of Latin-1 and General Punctuation; other runes are kept. */
static void buf_quote(buf *b, const char *str, uint32_t n) {
	const unsigned char *s = (const unsigned char *)str;
	buf_byte(b, '"');
	for (uint32_t i = 0; i < n;) {
		uint32_t r, l = utf8_next(s, i, n, &r);
		if (l == 0) {
			buf_add(b, "\\x", 2);
			buf_byte(b, "0123456789abcdef"[s[i] >> 4]);
			buf_byte(b, "0123456789abcdef"[s[i] & 15]);
			i++;
			continue;
		}
		i += l;
		switch (r) {
		case '"': buf_add(b, "\\\"", 2); continue;
		case '\\': buf_add(b, "\\\\", 2); continue;
		case '\a': buf_add(b, "\\a", 2); continue;
		case '\b': buf_add(b, "\\b", 2); continue;
		case '\f': buf_add(b, "\\f", 2); continue;
		case '\n': buf_add(b, "\\n", 2); continue;
		case '\r': buf_add(b, "\\r", 2); continue;
		case '\t': buf_add(b, "\\t", 2); continue;
		case '\v': buf_add(b, "\\v", 2); continue;
		}
		if (r < 0x20 || r == 0x7F) {
			buf_add(b, "\\x", 2);
			buf_byte(b, "0123456789abcdef"[r >> 4]);
			buf_byte(b, "0123456789abcdef"[r & 15]);
			continue;
		}
		if ((r >= 0x80 && r <= 0xA0) || r == 0xAD || (r >= 0x200B && r <= 0x200F) || r == 0x2028 || r == 0x2029 ||
		    (r >= 0x2060 && r <= 0x2064) || r == 0xFEFF) {
			buf_add(b, "\\u", 2);
			for (int k = 12; k >= 0; k -= 4) buf_byte(b, "0123456789abcdef"[r >> k & 15]);
			continue;
		}
		buf_rune(b, r);
	}
	buf_byte(b, '"');
}

char *pl_vsprintf(const char *fmt, va_list ap) {
	buf b = {0};
	for (const char *p = fmt; *p; p++) {
		if (*p != '%') {
			const char *q = p;
			while (q[1] && q[1] != '%') q++;
			buf_add(&b, p, (uint32_t)(q - p + 1));
			p = q;
			continue;
		}
		p++;
		int prec = -1;
		if (p[0] == '.' && p[1] == '*') {
			prec = va_arg(ap, int);
			p += 2;
		}
		int longs = 0;
		while (*p == 'l') longs++, p++;
		if (*p == 'z') longs = 1, p++;
		switch (*p) {
		case 's': {
			const char *s = va_arg(ap, const char *);
			if (s == NULL) s = "(null)";
			uint32_t n = pl_strlen(s);
			if (prec >= 0 && (uint32_t)prec < n) n = (uint32_t)prec;
			buf_add(&b, s, n);
			break;
		}
		case 'd':
		case 'i':
			buf_int(&b, longs >= 2 ? va_arg(ap, long long) : longs ? va_arg(ap, long) : va_arg(ap, int));
			break;
		case 'u':
		case 'x':
			buf_uint(&b, longs >= 2 ? va_arg(ap, unsigned long long) : longs ? va_arg(ap, unsigned long) : va_arg(ap, unsigned),
			         *p == 'x' ? 16 : 10);
			break;
		case 'c':
			buf_byte(&b, (char)va_arg(ap, int));
			break;
		case '%':
			buf_byte(&b, '%');
			break;
		case 0:
			p--;
			break;
		default:
			buf_byte(&b, '%');
			buf_byte(&b, *p);
		}
	}
	return buf_done(&b, NULL);
}

char *pl_sprintf(const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	char *s = pl_vsprintf(fmt, ap);
	va_end(ap);
	return s;
}

char *pl_quote(const char *s) {
	buf b = {0};
	buf_quote(&b, nz(s), pl_strlen(s));
	return buf_done(&b, NULL);
}

/* ---- Logs ---- */

void pl_log(pl_level level, const char *msg) {
	pl__log((uint32_t)level, nz(msg), pl_strlen(msg));
}

void pl_logf(pl_level level, const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	char *s = pl_vsprintf(fmt, ap);
	va_end(ap);
	pl_log(level, s);
}

/* ---- Status codes and errors ---- */

static const char *const status_codes[] = {
	"ok", "bad_request", "permission_denied", "not_found", "quota_exceeded",
	"consent_required", "conflict", "unavailable", "internal", "unknown_op",
	"insufficient_funds", "window_closed", "not_opted_in", "opted_out", "rate_limited",
};

const char *pl_status_code(pl_status st) {
	if ((uint32_t)st < PL_COUNT(status_codes)) return status_codes[st];
	return pl_sprintf("status_%u", (unsigned)st);
}

static pl_error last_error;

const pl_error *pl_last_error(void) { return &last_error; }

static pl_status fail(const char *op, pl_status st, const char *message) {
	last_error.op = op;
	last_error.status = st;
	last_error.code = pl_status_code(st);
	last_error.message = message;
	return st;
}

/* ---- JSON reader ---- */

#define PL_JSON_MAX_DEPTH 200

typedef struct reader {
	const unsigned char *s;
	uint32_t i, n;
	int depth;
	bool bad;
} reader;

static void ws(reader *r) {
	if (r->i >= r->n || r->s[r->i] > ' ') return; /* compact JSON skips the loop */
	while (r->i < r->n) {
		unsigned char c = r->s[r->i];
		if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return;
		r->i++;
	}
}

static int hexval(unsigned char c) {
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

static int32_t hex4(reader *r) {
	if (r->n - r->i < 4) return -1;
	int32_t v = 0;
	for (int k = 0; k < 4; k++) {
		int h = hexval(r->s[r->i + k]);
		if (h < 0) return -1;
		v = v << 4 | h;
	}
	r->i += 4;
	return v;
}

/* read_string reads a string (the opening quote is at r->i) and returns it
 * unescaped and NUL-terminated; invalid UTF-8 becomes U+FFFD. */
static const char *read_string(reader *r, uint32_t *len) {
	r->i++;
	uint32_t start = r->i;
	/* Fast path: no escapes, and valid UTF-8. */
	for (;;) {
		uint32_t i = plain_run(r->s, r->i, r->n);
		r->i = i;
		if (i >= r->n) break;
		unsigned char c = r->s[i];
		if (c == '"') {
			*len = i - start;
			r->i++;
			return pl_strndup((const char *)r->s + start, *len);
		}
		uint32_t rune, l = c >= 0x80 ? utf8_next(r->s, i, r->n, &rune) : 0;
		if (l == 0) break; /* an escape, a control character or invalid UTF-8 */
		r->i += l;
	}
	r->i = start;
	buf b = {0};
	while (r->i < r->n) {
		unsigned char c = r->s[r->i];
		if (c == '"') {
			r->i++;
			return buf_done(&b, len);
		}
		if (c < 0x20) break;
		if (c != '\\') {
			uint32_t rune, l = utf8_next(r->s, r->i, r->n, &rune);
			if (l == 0) {
				buf_rune(&b, 0xFFFD);
				r->i++;
			} else {
				buf_add(&b, (const char *)r->s + r->i, l);
				r->i += l;
			}
			continue;
		}
		if (++r->i >= r->n) break;
		c = r->s[r->i++];
		switch (c) {
		case '"': buf_byte(&b, '"'); break;
		case '\\': buf_byte(&b, '\\'); break;
		case '/': buf_byte(&b, '/'); break;
		case 'b': buf_byte(&b, '\b'); break;
		case 'f': buf_byte(&b, '\f'); break;
		case 'n': buf_byte(&b, '\n'); break;
		case 'r': buf_byte(&b, '\r'); break;
		case 't': buf_byte(&b, '\t'); break;
		case 'u': {
			int32_t u = hex4(r);
			if (u < 0) goto bad;
			if (u >= 0xD800 && u < 0xDC00 && r->n - r->i >= 6 && r->s[r->i] == '\\' && r->s[r->i + 1] == 'u') {
				uint32_t save = r->i;
				r->i += 2;
				int32_t lo = hex4(r);
				if (lo >= 0xDC00 && lo < 0xE000) {
					buf_rune(&b, 0x10000 + ((uint32_t)(u - 0xD800) << 10) + (uint32_t)(lo - 0xDC00));
					break;
				}
				r->i = save;
			}
			buf_rune(&b, (u >= 0xD800 && u < 0xE000) ? 0xFFFD : (uint32_t)u);
			break;
		}
		default:
			goto bad;
		}
	}
bad:
	r->bad = true;
	return "";
}

static bool digit(reader *r) { return r->i < r->n && r->s[r->i] >= '0' && r->s[r->i] <= '9'; }

static pl_json *read_value(reader *r);

static pl_json *read_number(reader *r, pl_json *v) {
	uint32_t start = r->i;
	if (r->s[r->i] == '-') r->i++;
	if (!digit(r)) goto bad;
	if (r->s[r->i] == '0') r->i++;
	else
		while (digit(r)) r->i++;
	if (r->i < r->n && r->s[r->i] == '.') {
		r->i++;
		if (!digit(r)) goto bad;
		while (digit(r)) r->i++;
	}
	if (r->i < r->n && (r->s[r->i] == 'e' || r->s[r->i] == 'E')) {
		r->i++;
		if (r->i < r->n && (r->s[r->i] == '+' || r->s[r->i] == '-')) r->i++;
		if (!digit(r)) goto bad;
		while (digit(r)) r->i++;
	}
	v->kind = PL_JSON_NUMBER;
	v->len = r->i - start;
	v->str = pl_strndup((const char *)r->s + start, v->len);
	return v;
bad:
	r->bad = true;
	return v;
}

static bool literal(reader *r, const char *word) {
	uint32_t n = pl_strlen(word);
	if (r->n - r->i < n || memcmp(r->s + r->i, word, n) != 0) return false;
	r->i += n;
	return true;
}

static pl_json *read_value_at(reader *r);

/* read_value reads one value and records where its text lies. */
static pl_json *read_value(reader *r) {
	ws(r);
	uint32_t start = r->i;
	pl_json *v = read_value_at(r);
	v->raw = (const char *)r->s + start;
	v->raw_len = r->i - start;
	return v;
}

static pl_json *read_value_at(reader *r) {
	pl_json *v = pl_alloc(sizeof *v);
	if (r->i >= r->n) {
		r->bad = true;
		return v;
	}
	unsigned char c = r->s[r->i];
	if (c == '"') {
		v->kind = PL_JSON_STRING;
		v->str = read_string(r, &v->len);
		return v;
	}
	if (c == '-' || (c >= '0' && c <= '9')) return read_number(r, v);
	if (c == '{' || c == '[') {
		if (++r->depth > PL_JSON_MAX_DEPTH) {
			r->bad = true;
			return v;
		}
		bool obj = c == '{';
		v->kind = obj ? PL_JSON_OBJECT : PL_JSON_ARRAY;
		r->i++;
		ws(r);
		pl_json **tail = &v->child;
		if (r->i < r->n && r->s[r->i] == (obj ? '}' : ']')) {
			r->i++;
			r->depth--;
			return v;
		}
		while (!r->bad) {
			const char *key = NULL;
			if (obj) {
				ws(r);
				uint32_t kl;
				if (r->i >= r->n || r->s[r->i] != '"') break;
				key = read_string(r, &kl);
				ws(r);
				if (r->i >= r->n || r->s[r->i] != ':') break;
				r->i++;
			}
			pl_json *e = read_value(r);
			e->key = key;
			*tail = e;
			tail = &e->next;
			v->len++;
			ws(r);
			if (r->i < r->n && r->s[r->i] == ',') {
				r->i++;
				continue;
			}
			if (r->i < r->n && r->s[r->i] == (obj ? '}' : ']')) {
				r->i++;
				r->depth--;
				return v;
			}
			break;
		}
		r->bad = true;
		return v;
	}
	if (literal(r, "true")) v->kind = PL_JSON_TRUE;
	else if (literal(r, "false")) v->kind = PL_JSON_FALSE;
	else if (literal(r, "null")) v->kind = PL_JSON_NULL;
	else r->bad = true;
	return v;
}

pl_json *pl_json_parse(const char *s, uint32_t n) {
	if (s == NULL) return NULL;
	reader r = {(const unsigned char *)s, 0, n, 0, false};
	pl_json *v = read_value(&r);
	ws(&r);
	if (r.bad || r.i != r.n) return NULL;
	return v;
}

pl_json *pl_json_get(const pl_json *obj, const char *key) {
	if (obj == NULL || obj->kind != PL_JSON_OBJECT) return NULL;
	pl_json *found = NULL;
	for (pl_json *m = obj->child; m; m = m->next) {
		if (pl_streq(m->key, key)) found = m; /* the last one wins, as in encoding/json */
	}
	return found;
}

const char *pl_json_str(const pl_json *v, const char *def) {
	return v && v->kind == PL_JSON_STRING ? v->str : def;
}

int64_t pl_json_int(const pl_json *v, int64_t def) {
	if (v == NULL || v->kind != PL_JSON_NUMBER) return def;
	const char *s = v->str;
	bool neg = *s == '-';
	if (neg) s++;
	uint64_t u = 0;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (u > (UINT64_MAX - 9) / 10) return def;
		u = u * 10 + (uint64_t)(*s - '0');
	}
	if (*s != 0) return def; /* a fraction or an exponent */
	if (neg) return u > (uint64_t)INT64_MAX + 1 ? def : (int64_t)(0 - u);
	return u > (uint64_t)INT64_MAX ? def : (int64_t)u;
}

static bool json_bool(const pl_json *v) { return v && v->kind == PL_JSON_TRUE; }

/* str returns a member's string, "" when absent or not a string. */
static const char *str(const pl_json *obj, const char *key) { return pl_json_str(pl_json_get(obj, key), ""); }

/* ---- JSON writer ---- */

void pl_jw_init(pl_jw *w) {
	w->b = NULL;
	w->n = w->cap = 0;
	w->depth = 0;
	w->comma = 0;
}

static void jw_need(pl_jw *w, uint32_t more) {
	buf b = {w->b, w->n, w->cap};
	buf_need(&b, more);
	w->b = b.b;
	w->cap = b.cap;
}

static void jw_add(pl_jw *w, const char *s, uint32_t n) {
	jw_need(w, n);
	memcpy(w->b + w->n, s, n);
	w->n += n;
}

/* jw_sep writes the comma before a value, unless it follows a key. */
static void jw_sep(pl_jw *w, bool after_key) {
	uint64_t bit = (uint64_t)1 << (w->depth & 63);
	if (!after_key && (w->comma & bit)) jw_add(w, ",", 1);
	w->comma |= bit;
}

static bool jw_after_key(pl_jw *w) { return w->n > 0 && w->b[w->n - 1] == ':'; }

static void jw_open(pl_jw *w, char c) {
	jw_sep(w, jw_after_key(w));
	jw_add(w, &c, 1);
	w->depth++;
	w->comma &= ~((uint64_t)1 << (w->depth & 63));
}

static void jw_close(pl_jw *w, char c) {
	jw_add(w, &c, 1);
	w->depth--;
}

void pl_jw_object(pl_jw *w) { jw_open(w, '{'); }
void pl_jw_end_object(pl_jw *w) { jw_close(w, '}'); }
void pl_jw_array(pl_jw *w) { jw_open(w, '['); }
void pl_jw_end_array(pl_jw *w) { jw_close(w, ']'); }

static void jw_quoted(pl_jw *w, const char *str, uint32_t n) {
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)str;
	jw_need(w, n + 2);
	w->b[w->n++] = '"';
	uint32_t i = 0, plain = 0;
	while (i < n) {
		i = plain_run(s, i, n);
		if (i >= n) break;
		unsigned char c = s[i];
		uint32_t r = 0, l = 1;
		if (c >= 0x80) {
			l = utf8_next(s, i, n, &r);
			if (l != 0 && r != 0x2028 && r != 0x2029) { /* copied with the run */
				i += l;
				continue;
			}
		}
		if (i > plain) jw_add(w, str + plain, i - plain);
		if (c < 0x80) {
			char e[6] = {'\\', 0, 0, 0, 0, 0};
			switch (c) {
			case '"': e[1] = '"'; jw_add(w, e, 2); break;
			case '\\': e[1] = '\\'; jw_add(w, e, 2); break;
			case '\n': e[1] = 'n'; jw_add(w, e, 2); break;
			case '\r': e[1] = 'r'; jw_add(w, e, 2); break;
			case '\t': e[1] = 't'; jw_add(w, e, 2); break;
			default:
				e[1] = 'u', e[2] = '0', e[3] = '0', e[4] = hex[c >> 4], e[5] = hex[c & 15];
				jw_add(w, e, 6);
			}
			i++;
		} else if (l == 0) {
			jw_add(w, "\\ufffd", 6);
			i++;
		} else {
			jw_add(w, r == 0x2028 ? "\\u2028" : "\\u2029", 6);
			i += l;
		}
		plain = i;
	}
	if (i > plain) jw_add(w, str + plain, i - plain);
	jw_add(w, "\"", 1);
}

void pl_jw_key(pl_jw *w, const char *key) {
	jw_sep(w, false);
	jw_quoted(w, nz(key), pl_strlen(key));
	jw_add(w, ":", 1);
}

void pl_jw_stringn(pl_jw *w, const char *s, uint32_t n) {
	jw_sep(w, jw_after_key(w));
	jw_quoted(w, s ? s : "", s ? n : 0);
}

void pl_jw_string(pl_jw *w, const char *s) { pl_jw_stringn(w, s, pl_strlen(s)); }

void pl_jw_int(pl_jw *w, int64_t v) {
	jw_sep(w, jw_after_key(w));
	buf b = {w->b, w->n, w->cap};
	buf_int(&b, v);
	w->b = b.b, w->n = b.n, w->cap = b.cap;
}

void pl_jw_bool(pl_jw *w, bool v) {
	jw_sep(w, jw_after_key(w));
	if (v) jw_add(w, "true", 4);
	else jw_add(w, "false", 5);
}

void pl_jw_null(pl_jw *w) {
	jw_sep(w, jw_after_key(w));
	jw_add(w, "null", 4);
}

void pl_jw_raw(pl_jw *w, const char *json, uint32_t n) {
	jw_sep(w, jw_after_key(w));
	jw_add(w, json, n);
}

const char *pl_jw_done(pl_jw *w, uint32_t *len) {
	jw_need(w, 1);
	w->b[w->n] = 0;
	if (len) *len = w->n;
	return w->b;
}

/* Member helpers: a string member, left out when s is NULL or "". */
static void jw_opt(pl_jw *w, const char *key, const char *s) {
	if (s == NULL || *s == 0) return;
	pl_jw_key(w, key);
	pl_jw_string(w, s);
}

static void jw_str(pl_jw *w, const char *key, const char *s) {
	pl_jw_key(w, key);
	pl_jw_string(w, s);
}

/* ---- Host calls ---- */

/* finish reads the pending result of a call that returned r. A failure sets
 * the last error; on success *resp (when resp is not NULL) is the parsed
 * response. */
static pl_status finish(const char *op, uint64_t r, pl_json **resp) {
	pl_status st = (pl_status)(r >> 32);
	uint32_t n = (uint32_t)r;
	char *out = NULL;
	if (n > 0) {
		out = arena_raw(n + 1);
		n = pl__result_read(out, n);
		out[n] = 0;
	}
	if (st != PL_OK) {
		fail(op, st, "");
		pl_json *doc = pl_json_parse(out, n);
		if (doc != NULL) {
			const char *code = str(doc, "code");
			if (*code) last_error.code = code;
			last_error.message = str(doc, "message");
		} else if (out != NULL) {
			last_error.message = out;
		}
		return st;
	}
	if (resp == NULL) return PL_OK;
	*resp = n > 0 ? pl_json_parse(out, n) : NULL;
	if (n > 0 && *resp == NULL) return fail(op, PL_INTERNAL, pl_sprintf("the host's response is not valid JSON: %.*s", 200, out));
	if (*resp == NULL) *resp = pl_alloc(sizeof(pl_json)); /* an empty response reads as null */
	return PL_OK;
}

/* ---- Chat ---- */

/* jw_choice writes a button or a list item: {"id", "title", and an
 * optional third member}. */
static void jw_choice(pl_jw *w, const char *id, const char *title, const char *key, const char *opt) {
	pl_jw_object(w);
	jw_str(w, "id", id);
	jw_str(w, "title", title);
	jw_opt(w, key, opt);
	pl_jw_end_object(w);
}

static void jw_card(pl_jw *w, const pl_card *c) {
	pl_jw_object(w);
	jw_opt(w, "title", c->title);
	jw_opt(w, "text", c->text);
	jw_opt(w, "image", c->image);
	if (c->nbuttons > 0) {
		pl_jw_key(w, "buttons");
		pl_jw_array(w);
		for (uint32_t i = 0; i < c->nbuttons; i++) {
			jw_choice(w, c->buttons[i].id, c->buttons[i].title, "value", c->buttons[i].value);
		}
		pl_jw_end_array(w);
	}
	if (c->list != NULL) {
		pl_jw_key(w, "list");
		pl_jw_object(w);
		jw_opt(w, "button", c->list->button);
		pl_jw_key(w, "items");
		pl_jw_array(w);
		for (uint32_t i = 0; i < c->list->nitems; i++) {
			jw_choice(w, c->list->items[i].id, c->list->items[i].title, "description", c->list->items[i].description);
		}
		pl_jw_end_array(w);
		pl_jw_end_object(w);
	}
	if (c->form != NULL) {
		pl_jw_key(w, "form");
		pl_jw_object(w);
		jw_str(w, "id", c->form->id);
		pl_jw_key(w, "fields");
		pl_jw_array(w);
		for (uint32_t i = 0; i < c->form->nfields; i++) {
			const pl_form_field *f = &c->form->fields[i];
			pl_jw_object(w);
			jw_str(w, "name", f->name);
			jw_str(w, "label", f->label);
			jw_opt(w, "type", f->type);
			if (f->required) {
				pl_jw_key(w, "required");
				pl_jw_bool(w, true);
			}
			pl_jw_end_object(w);
		}
		pl_jw_end_array(w);
		jw_opt(w, "submit", c->form->submit);
		pl_jw_end_object(w);
	}
	pl_jw_end_object(w);
}

static pl_status send(pl_jw *w, const char **id) {
	uint32_t n;
	const char *req = pl_jw_done(w, &n);
	pl_json *resp;
	pl_status st = finish("chat.send", pl__chat_send(req, n), &resp);
	if (id) *id = st == PL_OK ? str(resp, "id") : "";
	return st;
}

pl_status pl_send_text(const char *text, const char **id) {
	pl_jw w;
	pl_jw_init(&w);
	pl_jw_object(&w);
	jw_str(&w, "text", text);
	pl_jw_end_object(&w);
	return send(&w, id);
}

pl_status pl_send_card(const pl_card *card, const char **id) {
	pl_jw w;
	pl_jw_init(&w);
	pl_jw_object(&w);
	if (card != NULL) {
		pl_jw_key(&w, "card");
		jw_card(&w, card);
	}
	pl_jw_end_object(&w);
	return send(&w, id);
}

pl_status pl_share(const pl_card *card, const char *payload, const char *conversation, const char **id,
                   bool *prompted) {
	pl_jw w;
	pl_jw_init(&w);
	pl_jw_object(&w);
	jw_opt(&w, "conversation", conversation);
	if (card != NULL) {
		pl_jw_key(&w, "card");
		pl_card c = {card->title, card->text, card->image, NULL, 0, NULL, NULL};
		jw_card(&w, &c);
	}
	jw_opt(&w, "payload", payload);
	pl_jw_end_object(&w);
	uint32_t n;
	const char *req = pl_jw_done(&w, &n);
	pl_json *resp = NULL;
	pl_status st = finish("chat.share", pl__chat_share(req, n), &resp);
	if (id) *id = st == PL_OK ? str(resp, "id") : "";
	if (prompted) *prompted = st == PL_OK && json_bool(pl_json_get(resp, "prompted"));
	return st;
}

pl_status pl_handoff(const char *reason, const char *summary, const pl_field *fields, uint32_t nfields,
                     const char **id, bool *already) {
	pl_jw w;
	pl_jw_init(&w);
	pl_jw_object(&w);
	jw_str(&w, "reason", reason ? reason : "");
	jw_opt(&w, "summary", summary);
	if (fields != NULL && nfields > 0) {
		pl_jw_key(&w, "fields");
		pl_jw_object(&w);
		for (uint32_t i = 0; i < nfields; i++) jw_str(&w, fields[i].name, fields[i].value ? fields[i].value : "");
		pl_jw_end_object(&w);
	}
	pl_jw_end_object(&w);
	uint32_t n;
	const char *req = pl_jw_done(&w, &n);
	pl_json *resp = NULL;
	pl_status st = finish("chat.handoff", pl__chat_handoff(req, n), &resp);
	if (id) *id = st == PL_OK ? str(resp, "id") : "";
	if (already) *already = st == PL_OK && json_bool(pl_json_get(resp, "already"));
	return st;
}

/* ---- Storage ---- */

static void kv_head(pl_jw *w, pl_scope scope, const char *key) {
	pl_jw_init(w);
	pl_jw_object(w);
	jw_str(w, "scope", scope == PL_SCOPE_PERSON ? "person" : "app");
	if (key != NULL) jw_str(w, "key", key);
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64val(unsigned char c) {
	if (c >= 'A' && c <= 'Z') return c - 'A';
	if (c >= 'a' && c <= 'z') return c - 'a' + 26;
	if (c >= '0' && c <= '9') return c - '0' + 52;
	if (c == '+') return 62;
	if (c == '/') return 63;
	return -1;
}

/* b64_decode decodes standard base64 with padding; false when malformed. */
static bool b64_decode(const char *s, uint32_t n, char **out, uint32_t *outn) {
	if (n % 4 != 0) return false;
	char *d = arena_raw(n / 4 * 3 + 1);
	uint32_t k = 0;
	for (uint32_t i = 0; i < n; i += 4) {
		int v[4];
		for (int j = 0; j < 4; j++) {
			unsigned char c = (unsigned char)s[i + j];
			v[j] = c == '=' && i + 4 == n && j >= 2 ? 0 : b64val(c);
			if (v[j] < 0) return false;
		}
		uint32_t x = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
		d[k++] = (char)(x >> 16);
		if (s[i + 2] != '=') d[k++] = (char)(x >> 8);
		if (s[i + 3] != '=') d[k++] = (char)x;
	}
	d[k] = 0;
	*out = d;
	*outn = k;
	return true;
}

pl_status pl_kv_get(pl_scope scope, const char *key, const char **value, uint32_t *len) {
	pl_jw w;
	kv_head(&w, scope, nz(key));
	pl_jw_end_object(&w);
	uint32_t n;
	const char *req = pl_jw_done(&w, &n);
	pl_json *resp = NULL;
	pl_status st = finish("kv.get", pl__kv_get(req, n), &resp);
	const char *v = "";
	uint32_t vn = 0;
	if (st == PL_OK) {
		pl_json *b = pl_json_get(resp, "value_b64");
		pl_json *t = pl_json_get(resp, "value");
		if (b != NULL && b->kind == PL_JSON_STRING) {
			char *d;
			if (!b64_decode(b->str, b->len, &d, &vn)) {
				st = fail("kv.get", PL_INTERNAL, "the host sent a value_b64 that is not standard base64");
			} else {
				v = d;
			}
		} else if (t != NULL && t->kind == PL_JSON_STRING) {
			v = t->str;
			vn = t->len;
		}
	}
	if (value) *value = st == PL_OK ? v : "";
	if (len) *len = st == PL_OK ? vn : 0;
	return st;
}

static pl_status kv_set(pl_jw *w) {
	pl_jw_end_object(w);
	uint32_t n;
	const char *req = pl_jw_done(w, &n);
	return finish("kv.set", pl__kv_set(req, n), NULL);
}

pl_status pl_kv_set(pl_scope scope, const char *key, const char *value) {
	pl_jw w;
	kv_head(&w, scope, nz(key));
	jw_str(&w, "value", value);
	return kv_set(&w);
}

pl_status pl_kv_set_bytes(pl_scope scope, const char *key, const void *data, uint32_t n) {
	const unsigned char *s = data;
	buf b = {0};
	buf_need(&b, (n + 2) / 3 * 4);
	for (uint32_t i = 0; i < n; i += 3) {
		uint32_t x = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0) | (i + 2 < n ? s[i + 2] : 0);
		buf_byte(&b, b64[x >> 18 & 63]);
		buf_byte(&b, b64[x >> 12 & 63]);
		buf_byte(&b, i + 1 < n ? b64[x >> 6 & 63] : '=');
		buf_byte(&b, i + 2 < n ? b64[x & 63] : '=');
	}
	uint32_t en;
	const char *enc = buf_done(&b, &en);
	pl_jw w;
	kv_head(&w, scope, nz(key));
	pl_jw_key(&w, "value_b64");
	pl_jw_stringn(&w, enc, en);
	return kv_set(&w);
}

pl_status pl_kv_delete(pl_scope scope, const char *key, bool *deleted) {
	pl_jw w;
	kv_head(&w, scope, nz(key));
	pl_jw_end_object(&w);
	uint32_t n;
	const char *req = pl_jw_done(&w, &n);
	pl_json *resp = NULL;
	pl_status st = finish("kv.delete", pl__kv_delete(req, n), &resp);
	if (deleted) *deleted = st == PL_OK && json_bool(pl_json_get(resp, "deleted"));
	return st;
}

pl_status pl_kv_list(pl_scope scope, const char *prefix, const char *cursor, uint32_t limit, pl_kv_page *page) {
	pl_jw w;
	kv_head(&w, scope, NULL);
	jw_opt(&w, "prefix", prefix);
	jw_opt(&w, "cursor", cursor);
	if (limit > 0) {
		pl_jw_key(&w, "limit");
		pl_jw_int(&w, limit);
	}
	pl_jw_end_object(&w);
	uint32_t n;
	const char *req = pl_jw_done(&w, &n);
	pl_json *resp = NULL;
	pl_status st = finish("kv.list", pl__kv_list(req, n), &resp);
	if (page == NULL) return st;
	page->keys = NULL;
	page->nkeys = 0;
	page->cursor = "";
	if (st != PL_OK) return st;
	pl_json *keys = pl_json_get(resp, "keys");
	if (keys != NULL && keys->kind == PL_JSON_ARRAY) {
		const char **k = pl_alloc(keys->len * sizeof *k + 1);
		for (pl_json *e = keys->child; e; e = e->next) {
			if (e->kind == PL_JSON_STRING) k[page->nkeys++] = e->str;
		}
		page->keys = k;
	}
	page->cursor = str(resp, "cursor");
	return st;
}

/* ---- Identity ---- */

pl_status pl_profile_get(unsigned fields, pl_profile *out) {
	if (fields == 0) fields = PL_FIELD_NAME;
	pl_jw w;
	pl_jw_init(&w);
	pl_jw_object(&w);
	pl_jw_key(&w, "fields");
	pl_jw_array(&w);
	if (fields & PL_FIELD_NAME) pl_jw_string(&w, "name");
	if (fields & PL_FIELD_PHONE) pl_jw_string(&w, "phone");
	pl_jw_end_array(&w);
	pl_jw_end_object(&w);
	uint32_t n;
	const char *req = pl_jw_done(&w, &n);
	pl_json *resp = NULL;
	pl_status st = finish("identity.profile", pl__identity_profile(req, n), &resp);
	if (out != NULL) {
		out->user = str(resp, "user");
		out->union_id = str(resp, "union");
		out->name = str(resp, "name");
		out->phone = str(resp, "phone");
	}
	return st;
}

/* ---- Payments ---- */

static pl_status order_call(const char *op, uint64_t r, pl_order *o) {
	pl_json *resp = NULL;
	pl_status st = finish(op, r, &resp);
	if (o != NULL) {
		o->order = str(resp, "order");
		o->status = str(resp, "status");
		o->amount = pl_json_int(pl_json_get(resp, "amount"), 0);
		o->currency = str(resp, "currency");
		o->description = str(resp, "description");
		o->idempotency_key = str(resp, "idempotency_key");
		o->refunded = pl_json_int(pl_json_get(resp, "refunded"), 0);
		o->reason = str(resp, "reason");
		o->expires = str(resp, "expires");
	}
	return st;
}

pl_status pl_pay_request(int64_t amount, const char *currency, const char *description,
                         const char *idempotency_key, pl_order *out) {
	pl_jw w;
	pl_jw_init(&w);
	pl_jw_object(&w);
	pl_jw_key(&w, "amount");
	pl_jw_int(&w, amount);
	jw_str(&w, "currency", currency);
	jw_str(&w, "description", description);
	jw_str(&w, "idempotency_key", idempotency_key);
	pl_jw_end_object(&w);
	uint32_t n;
	const char *req = pl_jw_done(&w, &n);
	return order_call("pay.request", pl__pay_request(req, n), out);
}

pl_status pl_pay_refund(const char *order, int64_t amount, const char *idempotency_key, pl_order *out) {
	pl_jw w;
	pl_jw_init(&w);
	pl_jw_object(&w);
	jw_str(&w, "order", order);
	if (amount != 0) {
		pl_jw_key(&w, "amount");
		pl_jw_int(&w, amount);
	}
	jw_str(&w, "idempotency_key", idempotency_key);
	pl_jw_end_object(&w);
	uint32_t n;
	const char *req = pl_jw_done(&w, &n);
	return order_call("pay.refund", pl__pay_refund(req, n), out);
}

pl_status pl_pay_status(const char *order, pl_order *out) {
	pl_jw w;
	pl_jw_init(&w);
	pl_jw_object(&w);
	jw_str(&w, "order", order);
	pl_jw_end_object(&w);
	uint32_t n;
	const char *req = pl_jw_done(&w, &n);
	return order_call("pay.status", pl__pay_status(req, n), out);
}

/* ---- Timers ---- */

pl_status pl_timer_after(uint64_t after_ms, const char *payload_json, const char **id) {
	if (id) *id = "";
	pl_json *payload = NULL;
	if (payload_json != NULL) {
		payload = pl_json_parse(payload_json, pl_strlen(payload_json));
		if (payload == NULL)
			return fail("timer.after", PL_BAD_REQUEST,
			            "payload is not valid JSON: pass a JSON document such as {\"order\":\"o_1\"}, or NULL");
	}
	pl_jw w;
	pl_jw_init(&w);
	pl_jw_object(&w);
	pl_jw_key(&w, "after_ms");
	pl_jw_int(&w, after_ms > INT64_MAX ? INT64_MAX : (int64_t)after_ms);
	if (payload != NULL) {
		pl_jw_key(&w, "payload");
		pl_jw_raw(&w, payload->raw, payload->raw_len);
	}
	pl_jw_end_object(&w);
	uint32_t n;
	const char *req = pl_jw_done(&w, &n);
	pl_json *resp = NULL;
	pl_status st = finish("timer.after", pl__timer_after(req, n), &resp);
	if (id && st == PL_OK) *id = str(resp, "id");
	return st;
}

pl_status pl_timer_cancel(const char *id) {
	pl_jw w;
	pl_jw_init(&w);
	pl_jw_object(&w);
	jw_str(&w, "id", id);
	pl_jw_end_object(&w);
	uint32_t n;
	const char *req = pl_jw_done(&w, &n);
	return finish("timer.cancel", pl__timer_cancel(req, n), NULL);
}

/* ---- Events ---- */

const char *pl_action_field(const pl_action *a, const char *name) {
	if (a == NULL) return NULL;
	for (uint32_t i = 0; i < a->nfields; i++) {
		if (pl_streq(a->fields[i].name, name)) return a->fields[i].value;
	}
	return NULL;
}

bool pl_consent_has(const pl_consent *c, const char *scope) {
	if (c == NULL) return false;
	for (uint32_t i = 0; i < c->nscopes; i++) {
		if (pl_streq(c->scopes[i], scope)) return true;
	}
	return false;
}

static bool is_object(const pl_json *v) { return v != NULL && v->kind == PL_JSON_OBJECT; }

/* decode_event fills ev from the event document; it returns a description
 * of what is wrong, or NULL. */
static const char *decode_event(const char *raw, uint32_t n, pl_event *ev) {
	static const char *const none = "";
	ev->type = ev->id = ev->app = ev->conversation = ev->user = ev->surface = ev->text = none;
	ev->raw = raw;
	ev->raw_len = n;
	if (n == 0) return "empty event";
	pl_json *doc = pl_json_parse(raw, n);
	if (doc == NULL) return "the event is not valid JSON";
	if (!is_object(doc)) return "the event is not a JSON object";
	/* One pass over the members; a repeated key takes the last value, as
	 * with pl_json_get. */
	pl_json *a = NULL, *p = NULL, *t = NULL, *c = NULL, *h = NULL, *st = NULL;
	for (pl_json *m = doc->child; m; m = m->next) {
		const char *k = m->key, *sv = m->kind == PL_JSON_STRING ? m->str : "";
		switch (k[0]) {
		case 'v':
			if (k[1] == 0) ev->v = (int)pl_json_int(m, 0);
			break;
		case 't':
			if (pl_streq(k, "type")) ev->type = sv;
			else if (pl_streq(k, "text")) ev->text = sv;
			else if (pl_streq(k, "timer")) t = m;
			break;
		case 'i':
			if (k[1] == 'd' && k[2] == 0) ev->id = sv;
			break;
		case 'a':
			if (pl_streq(k, "app")) ev->app = sv;
			else if (pl_streq(k, "action")) a = m;
			break;
		case 'c':
			if (pl_streq(k, "conversation")) ev->conversation = sv;
			else if (pl_streq(k, "consent")) c = m;
			break;
		case 'u':
			if (pl_streq(k, "user")) ev->user = sv;
			break;
		case 'h':
			if (pl_streq(k, "handoff")) h = m;
			break;
		case 's':
			if (pl_streq(k, "surface")) ev->surface = sv;
			else if (pl_streq(k, "status")) st = m;
			break;
		case 'p':
			if (pl_streq(k, "payment")) p = m;
			break;
		}
	}
	if (*ev->type == 0) return "no \"type\"";

	if (is_object(a)) {
		pl_action *act = pl_alloc(sizeof *act);
		act->id = str(a, "id");
		act->value = str(a, "value");
		pl_json *f = pl_json_get(a, "fields");
		if (is_object(f)) {
			pl_field *fs = pl_alloc(f->len * sizeof *fs + 1);
			for (pl_json *m = f->child; m; m = m->next) {
				if (m->kind != PL_JSON_STRING) continue;
				fs[act->nfields].name = m->key;
				fs[act->nfields++].value = m->str;
			}
			act->fields = fs;
		}
		ev->action = act;
	}
	if (is_object(p)) {
		pl_payment *pay = pl_alloc(sizeof *pay);
		pay->order = str(p, "order");
		pay->status = str(p, "status");
		pay->amount = pl_json_int(pl_json_get(p, "amount"), 0);
		pay->currency = str(p, "currency");
		pay->refunded = pl_json_int(pl_json_get(p, "refunded"), 0);
		pay->idempotency_key = str(p, "idempotency_key");
		pay->reason = str(p, "reason");
		ev->payment = pay;
	}
	if (is_object(t)) {
		pl_timer *tm = pl_alloc(sizeof *tm);
		tm->id = str(t, "id");
		tm->payload = "";
		pl_json *pv = pl_json_get(t, "payload");
		if (pv != NULL && pv->kind != PL_JSON_NULL) tm->payload = pl_strndup(pv->raw, pv->raw_len);
		ev->timer = tm;
	}
	if (is_object(c)) {
		pl_consent *cs = pl_alloc(sizeof *cs);
		cs->prompt = str(c, "prompt");
		cs->granted = json_bool(pl_json_get(c, "granted"));
		pl_json *sc = pl_json_get(c, "scopes");
		if (sc != NULL && sc->kind == PL_JSON_ARRAY) {
			const char **sl = pl_alloc(sc->len * sizeof *sl + 1);
			for (pl_json *e = sc->child; e; e = e->next) {
				if (e->kind == PL_JSON_STRING) sl[cs->nscopes++] = e->str;
			}
			cs->scopes = sl;
		}
		ev->consent = cs;
	}
	if (is_object(h)) {
		pl_handoff_event *ho = pl_alloc(sizeof *ho);
		ho->id = str(h, "id");
		ho->status = str(h, "status");
		ho->agent = str(h, "agent");
		ho->note = str(h, "note");
		ev->handoff = ho;
	}
	if (is_object(st)) {
		pl_message_status *ms = pl_alloc(sizeof *ms);
		ms->message = str(st, "message");
		ms->state = str(st, "state");
		ms->code = str(st, "code");
		ms->network_code = pl_json_int(pl_json_get(st, "network_code"), 0);
		ms->surface = str(st, "surface");
		ev->status = ms;
	}
	return NULL;
}

static pl_handler handler_for(const char *type) {
	const pl_app *a = &passerelle_app;
	pl_handler h = NULL;
	if (pl_streq(type, PL_EVENT_OPEN)) h = a->on_open;
	else if (pl_streq(type, PL_EVENT_MESSAGE)) h = a->on_message;
	else if (pl_streq(type, PL_EVENT_ACTION)) h = a->on_action;
	else if (pl_streq(type, PL_EVENT_PAYMENT)) h = a->on_payment;
	else if (pl_streq(type, PL_EVENT_TIMER)) h = a->on_timer;
	else if (pl_streq(type, PL_EVENT_CONSENT)) h = a->on_consent;
	else if (pl_streq(type, PL_EVENT_HANDOFF)) h = a->on_handoff;
	else if (pl_streq(type, PL_EVENT_HANDBACK)) h = a->on_handback;
	else if (pl_streq(type, PL_EVENT_STATUS)) h = a->on_status;
	return h ? h : a->on_other;
}

__attribute__((export_name("passerelle_v1_on_event"))) uint32_t pl__on_event(uint32_t len) {
	arena_reset();
	fail("", PL_OK, "");
	char *raw = arena_raw(len + 1);
	uint32_t n = len ? pl__event_read(raw, len) : 0;
	raw[n] = 0;
	pl_event ev = {0};
	const char *bad = decode_event(raw, n, &ev);
	if (bad != NULL) {
		pl_logf(PL_ERROR, "bad event: %s", bad);
		return PL_BAD_REQUEST;
	}
	pl_handler h = handler_for(ev.type);
	if (h == NULL) return PL_OK;
	pl_status st = h(&ev);
	if (st == PL_OK) return PL_OK;
	const pl_error *e = &last_error;
	if (e->status == st && *e->op) {
		if (*e->message) pl_logf(PL_ERROR, "%s: %s: %s", e->op, e->code, e->message);
		else pl_logf(PL_ERROR, "%s: %s", e->op, e->code);
	} else {
		pl_logf(PL_ERROR, "the %s handler returned %s", ev.type, pl_status_code(st));
	}
	return st;
}
