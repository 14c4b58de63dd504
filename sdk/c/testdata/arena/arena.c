/*
 * A test app for the C SDK's arena (sdk/c/arena_test.go): "alloc N"
 * allocates N KiB with pl_alloc, writes every page of it and answers with
 * the memory size in pages.
 */
#include "passerelle.h"

static pl_status on_message(const pl_event *ev) {
	const char *arg = pl_has_prefix(ev->text, "alloc ");
	if (arg == NULL) return PL_BAD_REQUEST;
	uint32_t kib = 0;
	for (; *arg >= '0' && *arg <= '9'; arg++) kib = kib * 10 + (uint32_t)(*arg - '0');
	unsigned char *p = pl_alloc(kib * 1024);
	for (uint32_t i = 0; i < kib * 1024; i += 4096) p[i] = 1;
	return pl_send_text(pl_sprintf("ok pages=%u", (unsigned)__builtin_wasm_memory_size(0)), NULL);
}

PASSERELLE_APP(.on_message = on_message);
