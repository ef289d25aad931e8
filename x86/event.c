#include "x86_event.h"

void x86_event_queue(struct x86_state *st, enum x86_event_type type, uint8_t vector, bool has_error,
                     uint32_t error_code)
{
	if (type == X86_EVENT_NMI) {
		st->events.nmi_pending = 1;
		return;
	}
	st->events.exc_pending = 1;
	st->events.exc_vector = vector;
	st->events.exc_has_error = has_error ? 1 : 0;
	st->events.exc_error_code = error_code;
}

void x86_event_taken(struct x86_state *st)
{
	if (st->events.exc_pending)
		return;
	st->events.exc_vector = 0;
	st->events.exc_has_error = 0;
	st->events.exc_error_code = 0;
}
