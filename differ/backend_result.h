/* What one backend step produced: the outcome, the post-state and the memory and
 * port accesses. The differ compares it and the replayer's backends fill it; it
 * needs only x86_state.h, so the differ includes nothing of the replayer. */
#ifndef EMUDIFF_BACKEND_RESULT_H
#define EMUDIFF_BACKEND_RESULT_H

#include <stdbool.h>
#include <stdint.h>

#include "../x86/x86_state.h"

enum backend_outcome {
	BACKEND_STEPPED = 0,     /* ran the step; post-state valid */
	BACKEND_UNSUPPORTED = 1, /* the engine cannot do this step; reason says why */
	BACKEND_CRASH = 2,       /* the engine died (e.g. unicorn's tcg fatal error); restarted */
	BACKEND_FAILED = 3,      /* the backend itself failed (host error); reason says why */
};

#define BACKEND_MAX_WRITES 64
#define BACKEND_MAX_PORTS  16

struct backend_write {
	uint64_t gpa;
	uint8_t len; /* 1..16 */
	uint8_t data[16];
};

struct backend_port {
	uint16_t port;
	uint8_t size;
	bool is_out;
	uint32_t value;
};

struct backend_result {
	enum backend_outcome outcome;
	char reason[160];
	struct x86_state post;
	/* Bytes set to 0xff mark fields of post this engine cannot observe or model;
	 * the differ ignores them. */
	struct x86_state unobserved;
	uint32_t n_writes;
	struct backend_write writes[BACKEND_MAX_WRITES];
	bool writes_overflow;
	uint32_t n_ports;
	struct backend_port ports[BACKEND_MAX_PORTS];
};

#endif
