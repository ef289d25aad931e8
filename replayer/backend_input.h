/* How backends read a step's recorded inputs (IN values, MMIO reads) in recorded
 * order, and how they say that one they needed is missing. */
#ifndef EMUDIFF_BACKEND_INPUT_H
#define EMUDIFF_BACKEND_INPUT_H

#include <stdbool.h>
#include <stdint.h>

#include "backend.h"

/* A backend's step that could not run because a recorded input it needed is
 * missing starts its reason with this; differ/classes.tsv files it as class io. */
#define BACKEND_IO_REASON "io: "

/* The next unconsumed recorded input of a kind (and address, when match_addr) for an access of `size`
 * bytes, in recorded order: a pointer to its little-endian value, or NULL when the recording has none.
 * A row with count > 1 holds count values of size / count bytes each (REP INS). used[] counts the values
 * taken from each of in->inputs and starts at zero for every step. */
const uint8_t *backend_take_input(const struct backend_step_input *in, uint32_t *used, uint8_t kind,
                                  uint64_t addr, bool match_addr, unsigned size);

/* Whether the reference took the WRMSR of `len` bytes at `at`: its recorded state after the step is at the
 * next instruction. No recorded state: taken. Otherwise it raised #GP, and so must the backend. */
bool backend_wrmsr_taken(const struct backend_step_input *in, const struct x86_state *at, unsigned len);

#endif
