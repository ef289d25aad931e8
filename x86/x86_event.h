/* Events carried in a state: an exception or NMI queued for delivery as the next step. */
#ifndef EMUDIFF_X86_EVENT_H
#define EMUDIFF_X86_EVENT_H

#include <stdbool.h>
#include <stdint.h>

#include "x86_state.h"

/* The kinds of injected event, as the trace stores them (trace_event.type; the VMX interruption types). */
enum x86_event_type {
	X86_EVENT_EXTINT = 0,
	X86_EVENT_NMI = 2,
	X86_EVENT_EXCEPTION = 3,
	X86_EVENT_SOFTINT = 4
};

/* Queues an event into the state's pending fields: an NMI as nmi_pending, anything else as the pending
 * exception with its vector and error code. */
void x86_event_queue(struct x86_state *st, enum x86_event_type type, uint8_t vector, bool has_error,
                     uint32_t error_code);

/* After delivery: clears the recorded vector and error code unless another event is pending. */
void x86_event_taken(struct x86_state *st);

#endif
