/* Synthetic traces for the replayer tests: a few real-mode instructions whose states are computed by hand. */
#ifndef EMUDIFF_REPLAYER_TESTS_SYNTH_H
#define EMUDIFF_REPLAYER_TESTS_SYNTH_H

#include <stdbool.h>
#include <stdint.h>

#include "../../schema/trace.h"

#define SYNTH_CODE  0x1000u
#define SYNTH_STACK 0x8000u
#define SYNTH_RAM   (64u * 1024)
#define SYNTH_STEPS 6u

/* What to plant in the recording. */
enum synth_plant {
	SYNTH_CLEAN,
	SYNTH_BAD_RAX_AT_4,   /* step 4 (mov bx, ax) records rax = 0x5555: one divergence */
	SYNTH_TWO_BAD,        /* step 1 records rax = 0x1299 (the rest consistent with it), step 5 rcx = 7 */
	SYNTH_IN_NO_INPUT,    /* step 0 is in al, 0x60 with no recorded input */
	SYNTH_IN_WITH_INPUT,  /* step 0 is in al, 0x60 reading 0xab */
	SYNTH_RUN_FALLBACK,   /* step 2 is a RUN step, step 3 a FALLBACK step */
	SYNTH_BAD_PUSH,       /* step 0 push ax records no store; step 1 pop cx reads the 77 77 there */
	SYNTH_CPUID,          /* step 0 is cpuid leaf 1, answered from the recording's CPUID table (meta) */
	SYNTH_RUN_PUSH,       /* step 0 push ax is a RUN step (its page stored); step 1 pop cx reads 0x1234 */
	SYNTH_RUN_PUSH_BYTES, /* the same, the RUN step carrying the two bytes as writes */
};

/* Writes the trace to path; 0 or -errno. */
int synth_trace(const char *path, enum synth_plant plant);

/* A long-mode trace: step 0 is IRETQ at CPL 0 to compatibility-mode CPL 3 code (NOPs at SYNTH_USER_CODE),
 * steps 1 and 2 NOPs there. */
#define SYNTH_IRETQ_STEPS 3u
#define SYNTH_USER_CODE   0x2000u
enum synth_iretq {
	SYNTH_IRETQ_AT_TARGET,   /* step 0 ends at the IRETQ's target, as one instruction does */
	SYNTH_IRETQ_RAN_PAST,    /* step 0 ends one NOP past the target: the reference ran it natively */
	SYNTH_IRETQ_NATIVE_KIND, /* the same, step 0 written as a TRACE_STEP_NATIVE step */
};
/* Writes the trace, with meta reference = reference, to path; 0 or -errno. */
int synth_iretq_trace(const char *path, const char *reference, enum synth_iretq how);

/* A fresh temporary path ending in suffix (caller frees). */
char *synth_tmp(const char *suffix);

#endif
