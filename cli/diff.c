/* emudiff diff: one step, every backend side by side. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../differ/differ.h"
#include "../replayer/replay.h"
#include "../x86/x86_format.h"
#include "args.h"
#include "cli.h"

#define DIFF_COLS (REPLAY_MAX_BACKENDS + 2)

struct diff_state {
	size_t n;
	char names[REPLAY_MAX_BACKENDS][16];
	struct backend_result res[REPLAY_MAX_BACKENDS];
	struct differ_divergence div[REPLAY_MAX_BACKENDS];
	bool diverged[REPLAY_MAX_BACKENDS], known[REPLAY_MAX_BACKENDS];
	struct x86_state pre, expected;
	uint8_t insn[16];
	unsigned insn_len;
	struct trace_write writes[64];
	uint8_t wdata[64][16];
	uint32_t n_writes;
	bool have_exit;
	struct trace_exit exit;
};

static int diff_collect(void *arg, const struct replay_step_report *r)
{
	struct diff_state *d = arg;
	if (d->n == REPLAY_MAX_BACKENDS)
		return 0;
	if (!d->n) {
		if (r->input->expected_exit) {
			d->have_exit = true;
			d->exit = *r->input->expected_exit;
		}
		d->pre = *r->input->pre;
		d->expected = *r->input->expected;
		d->insn_len = r->input->insn_len > 15 ? 15 : r->input->insn_len;
		memcpy(d->insn, r->input->insn, d->insn_len);
		for (uint32_t i = 0; i < r->input->n_expected_writes && d->n_writes < 64; i++) {
			const struct trace_write *w = &r->input->expected_writes[i];
			uint32_t len = w->len > 16 ? 16 : w->len;
			memcpy(d->wdata[d->n_writes], w->data, len);
			d->writes[d->n_writes] =
			    (struct trace_write){.gpa = w->gpa, .len = len, .data = d->wdata[d->n_writes]};
			d->n_writes++;
		}
	}
	snprintf(d->names[d->n], sizeof(d->names[0]), "%s", r->backend);
	d->res[d->n] = *r->result;
	d->diverged[d->n] = r->divergence != NULL;
	d->known[d->n] = r->known;
	if (r->divergence)
		d->div[d->n] = *r->divergence;
	d->n++;
	return 0;
}

static void print_native(uint64_t step)
{
	printf("step %" PRIu64 " is a NATIVE step: the reference ran native code it did not step after the "
	       "instruction; nothing to compare\n",
	       step);
}

static void print_diff(const struct diff_state *d, uint64_t step)
{
	printf("step %" PRIu64 ": ", step);
	for (unsigned i = 0; i < d->insn_len; i++)
		printf("%02x%s", d->insn[i], i + 1 < d->insn_len ? " " : "");
	printf("  (%s, cpl %u)\n", x86_mode_name(x86_state_mode(&d->pre)), x86_state_cpl(&d->pre));
	struct x86_diff_column cols[REPLAY_MAX_BACKENDS];
	for (size_t b = 0; b < d->n; b++)
		cols[b] = (struct x86_diff_column){d->names[b], &d->res[b].post, &d->res[b].unobserved};
	x86_print_diff(stdout, &d->pre, &d->expected, cols, d->n);
	for (uint32_t i = 0; i < d->n_writes; i++) {
		printf("recorded write  [0x%" PRIx64 "] ", d->writes[i].gpa);
		for (uint32_t k = 0; k < d->writes[i].len; k++)
			printf("%02x", d->writes[i].data[k]);
		printf("\n");
	}
	if (d->have_exit && (d->exit.reason == TRACE_EXIT_IO || d->exit.reason == TRACE_EXIT_MMIO)) {
		uint64_t v = 0;
		memcpy(&v, d->exit.data, d->exit.size < 8 ? d->exit.size : 8);
		printf("recorded exit   %s %s 0x%" PRIx64 " size %u count %u value 0x%" PRIx64 "\n",
		       d->exit.reason == TRACE_EXIT_IO ? "io" : "mmio", d->exit.is_write ? "write" : "read",
		       d->exit.addr, d->exit.size, d->exit.count, v);
	}
	for (size_t b = 0; b < d->n; b++) {
		for (uint32_t i = 0; i < d->res[b].n_ports; i++) {
			const struct backend_port *pt = &d->res[b].ports[i];
			printf("%-7s port    %s 0x%x size %u value 0x%x\n", d->names[b],
			       pt->is_out ? "out" : "in", pt->port, pt->size, pt->value);
		}
	}
	for (size_t b = 0; b < d->n; b++) {
		for (uint32_t i = 0; i < d->res[b].n_writes; i++) {
			printf("%-7s write   [0x%" PRIx64 "] ", d->names[b], d->res[b].writes[i].gpa);
			for (uint32_t k = 0; k < d->res[b].writes[i].len; k++)
				printf("%02x", d->res[b].writes[i].data[k]);
			printf("\n");
		}
	}
	for (size_t b = 0; b < d->n; b++) {
		const struct backend_result *r = &d->res[b];
		if (d->diverged[b])
			printf("%s: diverges, class %s%s%s%s\n", d->names[b], d->div[b].cls,
			       d->div[b].detail[0] ? " (" : "", d->div[b].detail,
			       d->div[b].detail[0] ? ")" : "");
		else
			printf("%s: matches the recording%s%s\n", d->names[b], r->reason[0] ? "; " : "",
			       r->reason);
		if (d->known[b])
			printf("%s: this divergence is on the known list\n", d->names[b]);
	}
	printf("(* marks a field that differs from the recording; - a field the backend cannot observe)\n");
}

int cli_diff(int argc, char **argv)
{
	static const char *const allowed[] = {"--step", "--backends", "--known", NULL};
	struct cli_opts o;
	struct replay_options ro = {0};
	struct replay_summary sum;
	const char *names[REPLAY_MAX_BACKENDS];
	char bbuf[256], err[512];
	int status = cli_parse_opts(argc, argv, &o, allowed), ret;

	if (status)
		return status;
	if (o.help) {
		printf("usage: emudiff diff TRACE --step N [--backends emu,unicorn,kvm] [--known FILE]\n"
		       "Runs one step through every backend and shows the fields side by side.\n");
		return 0;
	}
	if (o.n_traces != 1)
		return cli_usage_error(o.cmd, o.n_traces ? "exactly one TRACE, got more:" : "missing TRACE",
		                       o.n_traces > 1 ? o.traces[1] : NULL);
	if (!o.have_step)
		return cli_usage_error(o.cmd, "missing --step N", NULL);
	ro.optional_backends = !o.backends_arg;
	status = cli_split_backends(o.cmd, o.backends_arg ? o.backends_arg : "emu,unicorn", bbuf,
	                            sizeof(bbuf), names, &ro.n_backends);
	if (status)
		return status;
	status = cli_check_input(o.cmd, "trace (.db)", o.trace);
	if (status)
		return status;

	struct trace *t;
	ret = trace_open(&t, o.trace);
	if (ret < 0) {
		fprintf(stderr, "emudiff %s: %s\n", o.cmd, trace_last_open_error());
		return CLI_EXIT_USAGE;
	}
	uint64_t count = trace_step_count(t);
	struct trace_step s;
	int kind = -1;
	if (o.step >= count) {
		trace_close(t);
		fprintf(stderr, "emudiff %s: --step %" PRIu64 ": %s has steps 0..%" PRIu64 "\n", o.cmd,
		        o.step, o.trace, count ? count - 1 : 0);
		return CLI_EXIT_USAGE;
	}
	/* A step that cannot be read is a damaged trace, never a step with nothing to compare. */
	if (trace_step_at(t, o.step, &s) != 0) {
		fprintf(stderr, "emudiff %s: %s: step %" PRIu64 " cannot be read: %s\n", o.cmd, o.trace,
		        o.step, trace_error(t));
		trace_close(t);
		return CLI_EXIT_USAGE;
	}
	kind = (int)s.kind;
	trace_close(t);
	if (kind == TRACE_STEP_NATIVE) {
		print_native(o.step);
		return CLI_EXIT_OK;
	}
	if (kind != TRACE_STEP_INSN) {
		printf("step %" PRIu64 " is a %s step: %s\n", o.step,
		       kind == TRACE_STEP_RUN ? "RUN" : "FALLBACK",
		       kind == TRACE_STEP_RUN
		           ? "unrecorded execution, not one instruction; nothing to compare"
		           : "executed by emu while recording, not ground truth; nothing to compare");
		return CLI_EXIT_OK;
	}

	struct diff_state *d = calloc(1, sizeof(*d));
	if (!d)
		return CLI_EXIT_ENVIRONMENT;
	ro.trace_path = o.trace;
	ro.backends = names;
	ro.from = o.step;
	ro.to = o.step + 1;
	ro.known_path = o.known;
	ro.on_step = diff_collect;
	ro.on_step_arg = d;
	ret = replay_run(&ro, &sum, err, sizeof(err));
	if (ret < 0) {
		status = cli_replay_error(o.cmd, ret, err);
		goto out;
	}
	printf("reference: %s\n", differ_reference_text(sum.reference));
	/* An older trace's INSN step that the replay's rule found native. */
	if (sum.native_steps)
		print_native(o.step);
	else
		print_diff(d, o.step);
	status = sum.new_divergences ? CLI_EXIT_DIVERGED : CLI_EXIT_OK;
out:
	free(d);
	return status;
}
