/* The record loop, independent of the engine (struct rec_engine_ops: KVM or emu): set-up, one step at a time
 * with interrupts and device checkpoints between steps, and tear-down. */
#include "recorder.h"

#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../machine/boot.h"
#include "../machine/devices.h"
#include "../machine/pc.h"
#include "../schema/trace.h"
#include "private.h"

const char *rec_end_name(enum rec_end end)
{
	static const char *const names[] = {
	    [REC_END_GUEST_EXIT] = "guest exit",
	    [REC_END_HALT] = "guest halted",
	    [REC_END_SHUTDOWN] = "triple fault (shutdown)",
	    [REC_END_MAX_STEPS] = "--max-steps reached",
	    [REC_END_EMULATION_FAILURE] = "KVM emulation failure",
	    [REC_END_INTERRUPTED] = "interrupted",
	    [REC_END_GUEST_TF] = "guest single-steps itself",
	    [REC_END_TIMEOUT] = "virtual-time timeout",
	    [REC_END_RESET] = "guest requested a system reset",
	};
	return (unsigned)end < sizeof(names) / sizeof(names[0]) ? names[end] : "?";
}

/* Appends a byte range to the step's write list, copying the data into the arena. */
int rec_add_write(struct rec *r, uint64_t gpa, const uint8_t *data, uint32_t len)
{
	if (r->n_writes == r->cap_writes) {
		size_t cap = r->cap_writes ? r->cap_writes * 2 : 64;
		struct trace_write *w = realloc(r->writes, cap * sizeof(*w));
		if (!w)
			return -ENOMEM;
		r->writes = w;
		r->cap_writes = cap;
	}
	if (r->arena_used + len > r->arena_cap) {
		size_t cap = r->arena_cap ? r->arena_cap : 65536;
		while (cap < r->arena_used + len)
			cap *= 2;
		uint8_t *a = realloc(r->arena, cap);
		if (!a)
			return -ENOMEM;
		/* Earlier writes point into the arena: rebase them. */
		for (size_t i = 0; i < r->n_writes; i++)
			r->writes[i].data = a + (r->writes[i].data - r->arena);
		r->arena = a;
		r->arena_cap = cap;
	}
	memcpy(r->arena + r->arena_used, data, len);
	r->writes[r->n_writes++] =
	    (struct trace_write){.gpa = gpa, .len = len, .data = r->arena + r->arena_used};
	r->arena_used += len;
	return 0;
}

void rec_reset_step(struct rec *r)
{
	r->n_writes = 0;
	r->arena_used = 0;
	r->n_inputs = 0;
}

int rec_add_input(struct rec *r, enum trace_input_kind kind, uint64_t addr, unsigned size, uint32_t count,
                  const uint8_t *data)
{
	if (r->n_inputs == r->cap_inputs) {
		size_t cap = r->cap_inputs ? r->cap_inputs * 2 : 64;
		struct trace_input *grown = realloc(r->inputs, cap * sizeof(*grown));
		if (!grown) {
			snprintf(r->errbuf, r->errlen, "step %llu: out of memory for its %zu recorded inputs",
			         (unsigned long long)r->summary->steps, r->n_inputs + 1);
			return -ENOMEM;
		}
		r->inputs = grown;
		r->cap_inputs = cap;
	}
	struct trace_input *in = &r->inputs[r->n_inputs++];
	memset(in, 0, sizeof(*in));
	in->kind = (uint8_t)kind;
	in->size = (uint8_t)size;
	in->count = count;
	in->addr = addr;
	memcpy(in->data, data, size < sizeof(in->data) ? size : sizeof(in->data));
	return 0;
}

/* COM1's transmitted bytes alone (the console also has the debug ports), for the trace's "serial" meta:
 * THR writes while LCR.DLAB is clear. */
void rec_serial_out(struct rec *r, uint16_t port, unsigned size, const uint8_t *buf, uint32_t count)
{
	if (size != 1)
		return;
	if (port == DEVBUS_PORT_COM1 + 3 && count)
		r->uart_lcr = buf[count - 1];
	if (port != DEVBUS_PORT_COM1 || (r->uart_lcr & 0x80))
		return;
	if (r->serial_len + count > r->serial_cap) {
		size_t cap = r->serial_cap ? r->serial_cap : 4096;
		while (cap < r->serial_len + count)
			cap *= 2;
		char *p = realloc(r->serial, cap);
		if (!p)
			return; /* the meta is a convenience: the exits rows hold every byte anyway */
		r->serial = p;
		r->serial_cap = cap;
	}
	memcpy(r->serial + r->serial_len, buf, count);
	r->serial_len += count;
}

bool rec_predicate(const struct rec *r, const struct x86_state *st)
{
	switch (r->opt->mode) {
	case REC_MODE_STEP:
		return true;
	case REC_MODE_EXITS:
		return false;
	case REC_MODE_DEMAND:
		break;
	}
	switch (r->opt->demand) {
	case REC_DEMAND_REAL:
		return !(st->cr0 & X86_CR0_PE);
	case REC_DEMAND_CPL0:
		return x86_state_cpl(st) == 0;
	case REC_DEMAND_RIP:
		return st->rip >= r->opt->rip_lo && st->rip < r->opt->rip_hi;
	}
	return false;
}

void rec_end(struct rec *r, enum rec_end end, const char *fmt, ...)
{
	r->ended = true;
	r->summary->end = end;
	if (fmt) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(r->summary->end_detail, sizeof(r->summary->end_detail), fmt, ap);
		va_end(ap);
	}
}

int rec_append(struct rec *r, enum trace_step_kind kind, const struct x86_state *pre)
{
	struct trace_step s = {
	    .index = r->summary->steps,
	    .kind = kind,
	    .pre = *pre,
	    .n_writes = (uint32_t)r->n_writes,
	    .writes = r->writes,
	    .n_inputs = (uint32_t)r->n_inputs,
	    .inputs = r->inputs,
	};
	int rc = trace_append_step(r->t, &s);
	if (rc) {
		snprintf(r->errbuf, r->errlen, "%s", trace_error(r->t));
		return rc;
	}
	r->summary->steps++;
	if (kind == TRACE_STEP_INSN)
		r->summary->insn_steps++;
	else if (kind == TRACE_STEP_FALLBACK)
		r->summary->fallback_steps++;
	return 0;
}

/* HLT on the PC machine: with IF set the CPU sleeps until an interrupt comes, so the virtual clock jumps
 * from deadline to deadline until the interrupt controller has one to deliver (or --timeout is reached). */
static void rec_idle(struct rec *r)
{
	if (!(r->cur.rflags & X86_RFLAGS_IF)) {
		rec_end(r, REC_END_HALT, "HLT with interrupts off at %04x:%llx", r->cur.seg[X86_CS].selector,
		        (unsigned long long)r->cur.rip);
		return;
	}
	for (unsigned n = 0; !devbus_intr_pending(r->bus); n++) {
		uint64_t now = devbus_now(r->bus), next = devbus_next_deadline(r->bus);
		if (next == DEVBUS_NEVER || n >= (1u << 20)) {
			rec_end(r, REC_END_HALT,
			        "HLT at %04x:%llx with no interrupt to come (masked or no source)",
			        r->cur.seg[X86_CS].selector, (unsigned long long)r->cur.rip);
			return;
		}
		if (r->opt->vtime_limit && next >= r->opt->vtime_limit) {
			if (r->opt->vtime_limit > now)
				devbus_advance(r->bus, r->opt->vtime_limit - now);
			return;
		}
		devbus_advance(r->bus, next - now);
	}
}

/* What ends the recording after an instruction: the debug-exit port, or HLT with nothing to wake it. */
void rec_check_end(struct rec *r, int opcode)
{
	uint32_t status;
	if (devbus_guest_exited(r->bus, &status)) {
		r->summary->guest_status = (int)status;
		rec_end(r, REC_END_GUEST_EXIT, "%s", devbus_exit_message(r->bus));
	} else if (opcode == 0xf4 && r->pc) {
		rec_idle(r);
	} else if (opcode == 0xf4 && !devbus_intr_pending(r->bus)) {
		rec_end(r, REC_END_HALT, "HLT with no interrupt source");
	}
}

/* Device checkpoint: devbus_save() before the current step, in the trace's device_checkpoints table. */
int rec_checkpoint(struct rec *r, bool force)
{
	uint64_t step = r->summary->steps;
	if (!r->pc || step == r->last_checkpoint || (!force && step < r->next_checkpoint))
		return 0;
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc = devbus_save(r->bus, &buf, &len);
	if (rc) {
		snprintf(r->errbuf, r->errlen, "saving the device state: %s", strerror(-rc));
		return rc;
	}
	rc = trace_put_device_checkpoint(r->t, step, buf, len);
	free(buf);
	if (rc) {
		snprintf(r->errbuf, r->errlen, "%s", trace_error(r->t));
		return rc;
	}
	r->last_checkpoint = step;
	r->next_checkpoint = step - step % TRACE_BATCH_STEPS + TRACE_BATCH_STEPS;
	return 0;
}

int rec_add_event(struct rec *r, uint8_t type, uint8_t vector)
{
	struct trace_event ev = {.step = r->summary->steps, .vector = vector, .type = type};
	int rc = trace_append_event(r->t, &ev);
	if (rc)
		snprintf(r->errbuf, r->errlen, "%s", trace_error(r->t));
	return rc;
}

/* The one injection point: before a step (or a run to the next exit), when the PIC has an interrupt and the
 * guest can take it (IF set, no STI/MOV SS shadow, nothing else pending). In exits mode an interrupt that
 * must wait opens the engine's interrupt window, so the guest exits as soon as it can take it. The events
 * row names the step. */
static int rec_inject(struct rec *r, bool stepping)
{
	bool pending = devbus_intr_pending(r->bus);
	bool ready =
	    pending && (r->cur.rflags & X86_RFLAGS_IF) && !r->cur.events.shadow && r->engine->can_inject(r);
	bool window = r->engine->request_irq_window && pending && !ready && !stepping;
	if (window != r->irq_window) {
		r->engine->request_irq_window(r, window);
		r->irq_window = window;
	}
	if (!ready)
		return 0;
	int vec = devbus_intr_ack(r->bus);
	if (vec < 0)
		return 0;
	r->injected_vector = (uint8_t)vec;
	int rc = r->engine->inject(r, (uint8_t)vec);
	if (rc)
		return rc;
	rc = rec_add_event(r, 0, (uint8_t)vec);
	if (rc)
		return rc;
	r->injected = true;
	r->summary->interrupts++;
	return 0;
}

static int rec_finish(struct rec *r)
{
	r->summary->vtime = devbus_now(r->bus);
	if (rec_checkpoint(r, true))
		return -EIO;
	rec_write_end_meta(r);
	char reason[256];
	snprintf(reason, sizeof(reason), "%s%s%s", rec_end_name(r->summary->end),
	         r->summary->end_detail[0] ? ": " : "", r->summary->end_detail);
	int rc = trace_finish(r->t, &r->cur, reason);
	if (rc)
		snprintf(r->errbuf, r->errlen, "%s", trace_error(r->t));
	return rc;
}

/* One host CPU for the whole recording: on PVM the guest's CPUID leaf 1 EBX[31:24] is the APIC ID of the host
 * CPU the vCPU runs on, whatever KVM_SET_CPUID2 says (measured), so a migrating thread would make two
 * recordings of the same guest differ. */
static void rec_pin_cpu(struct rec *r, struct rec_host *host)
{
	cpu_set_t one;

	r->pinned_cpu = -1;
	if (sched_getaffinity(0, sizeof(host->old_affinity), &host->old_affinity) != 0)
		return;
	for (int c = 0; c < CPU_SETSIZE; c++) {
		if (!CPU_ISSET(c, &host->old_affinity))
			continue;
		CPU_ZERO(&one);
		CPU_SET(c, &one);
		host->pinned = sched_setaffinity(0, sizeof(one), &one) == 0;
		r->pinned_cpu = host->pinned ? c : -1;
		break;
	}
}

/* The --module files: "FILE[,ARGS]", the module's string "FILE ARGS" with FILE's base name (a trace does not
 * depend on where the files were). 0 or a cli status with the message in errbuf. */
static int rec_read_modules(struct rec *r)
{
	const struct rec_options *opt = r->opt;
	if (!opt->n_modules)
		return 0;
	r->modules = calloc(opt->n_modules, sizeof(*r->modules));
	if (!r->modules) {
		snprintf(r->errbuf, r->errlen, "--module: out of memory");
		return CLI_STATUS_ENVIRONMENT;
	}
	for (size_t i = 0; i < opt->n_modules; i++) {
		const char *arg = opt->modules[i], *comma = strchr(arg, ',');
		size_t path_len = comma ? (size_t)(comma - arg) : strlen(arg);
		char *path = strndup(arg, path_len);
		const char *base = path ? strrchr(path, '/') : NULL;
		char *string = NULL;
		if (path && asprintf(&string, "%s%s%s", base ? base + 1 : path, comma ? " " : "",
		                     comma ? comma + 1 : "") < 0)
			string = NULL;
		if (!path || !string) {
			free(path);
			snprintf(r->errbuf, r->errlen, "--module: out of memory");
			return CLI_STATUS_ENVIRONMENT;
		}
		r->modules[i].string = string;
		uint8_t *data = NULL;
		int status = rec_read_file(r, path, "--module", (size_t)256 << 20, &data, &r->modules[i].len);
		free(path);
		r->modules[i].data = data;
		if (status)
			return status;
	}
	return 0;
}

static void rec_free_modules(struct rec *r)
{
	for (size_t i = 0; r->modules && i < r->opt->n_modules; i++) {
		free((void *)r->modules[i].data);
		free((void *)r->modules[i].string);
	}
	free(r->modules);
}

/* The PC machine on the bus, booted from the firmware or the multiboot kernel (with the PIC and PIT as the
 * firmware leaves them for the kernel). */
static int rec_boot_pc(struct rec *r)
{
	const struct rec_options *opt = r->opt;
	struct pc_config pcfg = {.ram_bytes = r->ram_size, .disk_path = opt->disk_path, .sercon = true};
	struct boot_memory mem;
	struct boot_mb_placed placed;
	int rc, status;

	status = r->engine->boot_memory(r, &mem);
	if (status)
		return status;
	if (opt->bios_path)
		rc = boot_load_bios(&mem, r->image, r->image_len, &r->cur, r->errbuf, r->errlen);
	else
		rc = boot_load_multiboot(&mem, r->image, r->image_len, opt->kernel_cmdline, r->modules,
		                         opt->n_modules, &r->cur, &placed, r->errbuf, r->errlen);
	if (!rc)
		rc = pc_machine_add(r->bus, &pcfg, r->errbuf, r->errlen);
	if (!rc && opt->multiboot_path) {
		r->mb_info = placed.info;
		if ((rc = boot_pc_pic_as_firmware(r->bus)))
			snprintf(r->errbuf, r->errlen, "programming the 8259A for the kernel: %s",
			         strerror(-rc));
		else if ((rc = boot_pc_pit_as_firmware(r->bus)))
			snprintf(r->errbuf, r->errlen, "programming the 8254 for the kernel: %s",
			         strerror(-rc));
	}
	if (rc) {
		char msg[400];
		snprintf(msg, sizeof(msg), "%s: %s",
		         opt->disk_path && strstr(r->errbuf, opt->disk_path) ? "--disk"
		         : opt->bios_path                                    ? opt->bios_path
		                                                             : opt->multiboot_path,
		         r->errbuf);
		snprintf(r->errbuf, r->errlen, "%s", msg);
		return rc == -ENOMEM ? CLI_STATUS_ENVIRONMENT : CLI_STATUS_USAGE;
	}
	return 0;
}

/* The guest image read, the engine opened, the devices and the guest in place, the signals handled: 0 or a
 * cli status with the message in errbuf. */
static int rec_setup(struct rec *r, struct rec_host *host)
{
	const struct rec_options *opt = r->opt;
	int status;

	r->pc = opt->bios_path || opt->multiboot_path;
	rec_pin_cpu(r, host);
	if (opt->bios_path)
		status = rec_read_file(r, opt->bios_path, "--bios", BOOT_BIOS_MAX, &r->image, &r->image_len);
	else if (opt->multiboot_path)
		status = rec_read_file(r, opt->multiboot_path, "--multiboot", (size_t)64 << 20, &r->image,
		                       &r->image_len);
	else
		status = rec_read_guest(r, &r->image, &r->image_len);
	if (status || (status = rec_read_modules(r)) || (status = r->engine->open(r)))
		return status;
	r->bus = devbus_new();
	if (!r->bus || devbus_add_standard(r->bus) || (opt->pc_testdev && devbus_add_pc_testdev(r->bus))) {
		snprintf(r->errbuf, r->errlen, "cannot set up the device model: out of memory");
		return CLI_STATUS_ENVIRONMENT;
	}
	devbus_set_echo(r->bus, opt->echo_console);
	devbus_set_debug_exit_qemu(r->bus, opt->debug_exit_qemu);
	if (r->pc) {
		if ((status = rec_boot_pc(r)))
			return status;
	} else {
		memcpy(r->ram + opt->load_addr, r->image, r->image_len);
		/* CS:IP = 0:ADDR while ADDR fits in IP (the boot-sector convention), else ADDR>>4:ADDR&15. */
		if (opt->load_addr <= 0xffff)
			x86_state_real(&r->cur, 0, (uint16_t)opt->load_addr, 0);
		else
			x86_state_real(&r->cur, (uint16_t)(opt->load_addr >> 4),
			               (uint16_t)(opt->load_addr & 0xf), 0);
	}
	if ((status = r->engine->start(r)))
		return status;
	rec_signals_install(r, &host->signals);
	return 0;
}

/* One step (or run to the next exit) after another until something ends the recording; 0 or -errno. */
static int rec_loop(struct rec *r)
{
	const struct rec_options *opt = r->opt;
	bool stepping = false;
	int rc = 0;

	while (!r->ended) {
		if (opt->max_steps && r->summary->steps >= opt->max_steps) {
			rec_end(r, REC_END_MAX_STEPS, "%llu steps", (unsigned long long)opt->max_steps);
			break;
		}
		if (rec_stop_signal()) {
			rec_end(r, REC_END_INTERRUPTED, "signal %d", rec_stop_signal());
			break;
		}
		if (r->pc && pc_reset_requested(r->bus)) {
			rec_end(r, REC_END_RESET, "port 0x92 or the i8042 pulsed the reset line");
			break;
		}
		if (opt->vtime_limit && devbus_now(r->bus) >= opt->vtime_limit) {
			rec_end(r, REC_END_TIMEOUT, "virtual clock at %llu units",
			        (unsigned long long)devbus_now(r->bus));
			break;
		}
		/* The A20 gate follows port 0x92 and the i8042 between steps, when every dirty page is
		 * harvested. */
		if (r->pc && pc_a20_enabled(r->bus) != r->a20_on) {
			r->a20_on = !r->a20_on;
			if ((rc = r->engine->set_a20(r)))
				break;
		}
		bool want = r->engine->wants_step(r);
		if (want != stepping) {
			if ((rc = r->engine->set_stepping(r, want)))
				break;
			stepping = want;
		}
		if (r->pc && ((rc = rec_checkpoint(r, false)) || (rc = rec_inject(r, stepping))))
			break;
		rc = r->engine->step(r, stepping);
		r->injected = false;
		if (rc)
			break;
		if (opt->progress && r->summary->steps >= r->next_progress) {
			opt->progress(opt->progress_arg, r->summary->steps, devbus_now(r->bus));
			r->next_progress = r->summary->steps + REC_PROGRESS_STEPS;
		}
	}
	return rc;
}

/* The trace: meta, the initial memory, the steps, the end. 0 or a cli status. */
static int rec_record(struct rec *r)
{
	const struct rec_options *opt = r->opt;
	int status;

	if (trace_create(&r->t, opt->output, opt->force)) {
		snprintf(r->errbuf, r->errlen, "%s", trace_last_open_error());
		return CLI_STATUS_USAGE;
	}
	status = rec_write_meta(r, r->image, r->image_len);
	if (status)
		return status;
	if (trace_put_memory(r->t, 0, r->ram, r->ram_size) ||
	    (opt->bios_path &&
	     trace_put_memory(r->t, 0x100000000ull - r->image_len, r->image, r->image_len))) {
		snprintf(r->errbuf, r->errlen, "%s", trace_error(r->t));
		return CLI_STATUS_USAGE;
	}
	int rc = rec_loop(r);
	if (!r->ended) {
		/* Every failure names itself; this covers one that did not. */
		if (!r->errbuf[0])
			snprintf(r->errbuf, r->errlen, "step %llu at %04x:%llx: the %s engine failed: %s",
			         (unsigned long long)r->summary->steps, r->cur.seg[X86_CS].selector,
			         (unsigned long long)r->cur.rip, r->engine->name,
			         strerror(rc < 0 ? -rc : EIO));
		/* A host-side failure: keep what was recorded, marked incomplete by the missing finish. */
		trace_commit(r->t);
		return CLI_STATUS_ENVIRONMENT;
	}
	return rec_finish(r) ? CLI_STATUS_USAGE : 0;
}

static void rec_teardown(struct rec *r, struct rec_host *host)
{
	rec_signals_restore(&host->signals);
	if (host->pinned)
		sched_setaffinity(0, sizeof(host->old_affinity), &host->old_affinity);
	trace_close(r->t);
	devbus_free(r->bus);
	r->engine->close(r);
	free(r->rom);
	free(r->shadow);
	free(r->writes);
	free(r->arena);
	free(r->inputs);
	free(r->held);
	free(r->serial);
	free(r->image);
	rec_free_modules(r);
}

int recorder_run(const struct rec_options *opt, struct rec_summary *out, char *err, size_t errlen)
{
	struct rec r = {.opt = opt,
	                .engine = opt->engine == REC_ENGINE_EMU ? &rec_engine_emu : &rec_engine_kvm,
	                .summary = out,
	                .errbuf = err,
	                .errlen = errlen,
	                .last_checkpoint = UINT64_MAX,
	                .a20_on = true,
	                .next_progress = REC_PROGRESS_STEPS};
	struct rec_host host = {0};
	int status;

	memset(out, 0, sizeof(*out));
	if (errlen)
		err[0] = 0;
	status = rec_setup(&r, &host);
	if (!status)
		status = rec_record(&r);
	rec_teardown(&r, &host);
	return status;
}
