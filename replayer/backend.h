/* The replay backend interface: one x86 engine (emu, unicorn, kvm) that can be
 * given a full state and memory, run one recorded step, and report the state
 * and memory writes that resulted. Functions return 0 or -errno; on failure
 * they leave a one-line message in the err buffer given to open. */
#ifndef EMUDIFF_BACKEND_H
#define EMUDIFF_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../differ/backend_result.h"
#include "../schema/trace.h"
#include "../x86/x86_state.h"

struct backend;

/* A guest-physical region the backend must back: RAM (written through
 * write_mem) or ROM; everything else is MMIO and reads recorded values. */
struct backend_region {
	uint64_t gpa;
	uint64_t len;
	bool rom;
};

struct backend_config {
	const struct backend_region *regions;
	size_t n_regions;
	/* CPUID table of the recording (leaf, subleaf, eax, ebx, ecx, edx), for engines that execute CPUID.
	 */
	const uint32_t (*cpuid)[6];
	size_t n_cpuid;
	/* The reference single-steps as silicon does: it holds the trap over the instruction a MOV SS/POP SS
	 * shadows, so the two are one step (DESIGN.md, reference semantics). Engines that step one
	 * instruction at a time take the shadowed one too. */
	bool step_over_mov_ss_shadow;
};

/* What one step consumes: the recorded inputs, in order, and an event the
 * recorder injected before the step (NULL when none). */
struct backend_step_input {
	uint64_t step;
	const struct trace_input *inputs;
	uint32_t n_inputs;
	const struct trace_event *event;
	/* The same recorded step goes on (the replayer runs the backend on to the reference's boundary):
	 * inputs are taken on from where the previous call left them. */
	bool continued;
	/* The recorded state after the step, NULL when unknown: what the reference did where no input says,
	 * such as whether a WRMSR raised #GP. */
	const struct x86_state *expected;
};

struct backend_ops {
	const char *name;
	/* -ENODEV when the engine is unavailable here (no /dev/kvm, wrong libunicorn). Guest memory starts
	 * zeroed. */
	int (*open)(struct backend **out, const struct backend_config *cfg, char *err, size_t errlen);
	/* Guest memory: the replayer writes every page that is not zero once, then every byte that
	 * changes. */
	int (*write_mem)(struct backend *b, uint64_t gpa, const void *data, size_t len);
	int (*read_mem)(struct backend *b, uint64_t gpa, void *data, size_t len);
	/* st stays valid until the next step on this backend returns (a backend may read it only there). */
	int (*set_state)(struct backend *b, const struct x86_state *st);
	/* Runs one step from the current state; fills out completely. */
	int (*step)(struct backend *b, const struct backend_step_input *in, struct backend_result *out);
	void (*close)(struct backend *b);
};

extern const struct backend_ops backend_emu_ops;
extern const struct backend_ops backend_unicorn_ops;
extern const struct backend_ops backend_kvm_ops;

/* Lookup by name ("emu", "unicorn", "kvm"); NULL when unknown. */
const struct backend_ops *backend_find(const char *name);

/* Appends bytes a step wrote to out->writes in pieces of up to 16 bytes (merge: first filling a previous
 * piece that ends where these start); sets writes_overflow when they do not fit. */
void backend_result_add_write(struct backend_result *out, uint64_t gpa, const uint8_t *data, unsigned len,
                              bool merge);

#endif
