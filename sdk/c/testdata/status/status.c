/*
 * A test app for the C SDK's status events (sdk/c/status_event_test.go):
 * it logs every status event it receives, field by field.
 */
#include "passerelle.h"

static pl_status on_status(const pl_event *ev) {
	const pl_message_status *s = ev->status;
	if (s == NULL) return PL_BAD_REQUEST;
	pl_logf(PL_INFO, "status message=%s state=%s code=%s network_code=%lld surface=%s",
		s->message, s->state, s->code, (long long)s->network_code, s->surface);
	return PL_OK;
}

PASSERELLE_APP(.on_status = on_status);
