/* PC boots: SeaBIOS boots a disk built from a corpus boot sector (execution reaches 0000:7C00 and the
 * sector's serial output is in the trace) and a disk with GRUB (Debian's grub-pc-bin), the SeaBIOS POST
 * records identically twice, a step-mode recording starts at the reset vector, SIGTERM ends a boot recording
 * cleanly, a multiboot kernel starts as the specification says, and the A20 gate wraps. Needs the Debian
 * SeaBIOS image. test_boot kvm   on /dev/kvm (skips, 77, without it), in the modes each test names test_boot
 * emu   with --engine emu: every recording in step mode, no KVM needed */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "../../replayer/replay.h"
#include "../../schema/trace.h"
#include "../recorder.h"
#include "engine.h"

#define SEABIOS "/usr/share/seabios/bios.bin"

static char tmpdir[256];
static bool engine_emu;

/* The emu engine records every instruction: step mode stands in for exits and demand mode. */
static enum rec_mode engine_mode(enum rec_mode mode)
{
	return engine_emu ? REC_MODE_STEP : mode;
}

/* Virtual seconds a boot needs: in step mode the clock advances one PIT clock per instruction, so the
 * firmware's timed waits cost instructions and the POST ends later in virtual time. */
static uint64_t boot_seconds(uint64_t kvm_seconds)
{
	return engine_emu ? 25 : kvm_seconds;
}

static const char *tmp_path(const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", tmpdir, name);
	return buf;
}

static void need_seabios(void)
{
	if (access(SEABIOS, R_OK) != 0) {
		print_message("SKIP: %s missing (Debian package seabios)\n", SEABIOS);
		skip();
	}
}

static struct rec_summary record_pc(const char *out, enum rec_mode mode, const char *disk, uint64_t max_steps,
                                    uint64_t vtime_seconds)
{
	struct rec_options opt = {
	    .output = out,
	    .force = true,
	    .engine = engine_emu ? REC_ENGINE_EMU : REC_ENGINE_KVM,
	    .mode = engine_mode(mode),
	    .demand = REC_DEMAND_REAL,
	    .max_steps = max_steps,
	    .mem_bytes = 128u << 20,
	    .bios_path = SEABIOS,
	    .disk_path = disk,
	    .vtime_limit = vtime_seconds ? boot_seconds(vtime_seconds) * 1193182ull : 0,
	    .command_line = "test",
	};
	struct rec_summary sum;
	char err[512] = "";
	int rc = recorder_run(&opt, &sum, err, sizeof(err));
	if (rc)
		fail_msg("recording %s: status %d: %s", out, rc, err);
	return sum;
}

/* The corpus guest padded to a boot sector (0x55 0xAA) in a 1 MiB disk image. */
static void make_disk(const char *guest, const char *path)
{
	char src[512];
	corpus_path(guest, src, sizeof(src));
	uint8_t sector[512] = {0};
	FILE *f = fopen(src, "rb");
	if (!f)
		fail_msg("%s: %s (build the corpus target)", src, strerror(errno));
	size_t n = fread(sector, 1, sizeof(sector), f);
	fclose(f);
	assert_true(n > 0 && n <= 510);
	sector[510] = 0x55;
	sector[511] = 0xaa;
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(sector, 1, sizeof(sector), f), sizeof(sector));
	static const uint8_t zero[512];
	for (int i = 1; i < 2048; i++)
		assert_int_equal(fwrite(zero, 1, sizeof(zero), f), sizeof(zero));
	assert_int_equal(fclose(f), 0);
}

struct serial {
	char buf[16384];
	size_t len;
};

/* The bytes the guest wrote to COM1's transmit register, from the exits table. */
static int collect_serial(void *arg, const struct trace_exit *e)
{
	struct serial *s = arg;
	if (e->reason == TRACE_EXIT_IO && e->is_write && e->addr == 0x3f8 && e->size == 1)
		for (uint32_t i = 0; i < e->data_len && s->len + 1 < sizeof(s->buf); i++)
			s->buf[s->len++] = (char)e->data[i];
	s->buf[s->len] = 0;
	return 0;
}

/* SeaBIOS loads the corpus boot sector from the ATA disk and jumps to it; the sector's serial output and
 * its debug-exit status end the recording. Demand mode: the real-mode code is single-stepped. */
static void test_boot_disk(void **state)
{
	(void)state;
	need_seabios();
	char disk[300], out[300];
	make_disk("realloop", tmp_path("realloop.img", disk, sizeof(disk)));
	struct rec_summary sum =
	    record_pc(tmp_path("disk.trace", out, sizeof(out)), REC_MODE_DEMAND, disk, 0, 20);
	if (sum.end != REC_END_GUEST_EXIT)
		fail_msg("the boot ended with '%s: %s', not the boot sector's exit", rec_end_name(sum.end),
		         sum.end_detail);
	assert_int_equal(sum.guest_status, 0);

	struct trace *t;
	assert_int_equal(trace_open(&t, out), 0);
	assert_true(trace_is_complete(t));
	/* A recorded step starts at 0000:7C00 in real mode, with the boot sector's bytes there. */
	struct trace_iter *it;
	struct trace_step s;
	uint64_t at = UINT64_MAX;
	assert_int_equal(trace_iter_start(t, 0, &it), 0);
	while (trace_iter_next(it, &s) == 1) {
		if (s.pre.seg[X86_CS].selector == 0 && s.pre.rip == 0x7c00 && !(s.pre.cr0 & X86_CR0_PE) &&
		    s.kind == TRACE_STEP_INSN) {
			at = s.index;
			break;
		}
	}
	trace_iter_end(it);
	if (at == UINT64_MAX)
		fail_msg("no step of %s starts at 0000:7C00", out);
	uint8_t mem[2];
	assert_int_equal(trace_memory_at(t, at, 0x7dfe, mem, 2), 0);
	assert_int_equal(mem[0], 0x55);
	assert_int_equal(mem[1], 0xaa);
	/* The boot sector's own output on the serial port. */
	struct serial ser = {.len = 0};
	assert_int_equal(trace_foreach_exit(t, collect_serial, &ser), 0);
	if (!strstr(ser.buf, "realloop: ok"))
		fail_msg("serial output lacks the boot sector's line: \"%s\"", ser.buf);
	char mode[32];
	assert_int_equal(trace_meta_get(t, "mode", mode, sizeof(mode)), 0);
	assert_string_equal(mode, engine_emu ? "step" : "demand");
	trace_close(t);
}

#define GRUB_DIR "/usr/lib/grub/i386-pc"

/* Copies file src into the open image f at byte offset off. */
static void put_file(FILE *f, const char *src, long off)
{
	static uint8_t buf[1 << 16];
	FILE *in = fopen(src, "rb");
	size_t n;
	if (!in)
		fail_msg("%s: %s", src, strerror(errno));
	assert_int_equal(fseek(f, off, SEEK_SET), 0);
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		assert_int_equal(fwrite(buf, 1, n, f), n);
	fclose(in);
}

/* Classes Unicorn 2.0.1 shows on firmware recorded by emu: no event delivery and no single-step trap
 * after PAUSE (backend.unsupported), MOV SS stepped alone by emu, no STI shadow inside a MOV SS shadow and
 * no accessed bits in its state. */
static int unicorn_class_expected(void *arg, const struct replay_step_report *rep)
{
	static const char *const expected[] = {"backend.unsupported", "shadow.mov_ss", "shadow.sti",
	                                       "segment.accessed"};
	unsigned *unexpected = arg;
	/* The reference's own artefacts (ref.*) are filed as expected. */
	if (!rep->divergence || rep->known)
		return 0;
	for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++)
		if (!strcmp(rep->divergence->cls, expected[i]))
			return 0;
	print_message("step %llu %s: %s: %s\n", (unsigned long long)rep->step, rep->backend,
	              rep->divergence->cls, rep->divergence->detail);
	++*unexpected;
	return 0;
}

/* Replays the recording through emu and Unicorn, every instruction step: emu repeats an emu recording exactly
 * and has no new divergence from a KVM one (the reference's own artefacts, ref.*, are filed apart); Unicorn
 * differs only where it cannot follow. */
static void replay_emu_and_unicorn(const char *out, const struct rec_summary *rs)
{
	char err[512];
	const char *emu[] = {"emu"}, *uc[] = {"unicorn"};
	struct replay_options opt = {
	    .trace_path = out, .backends = emu, .n_backends = 1, .to = UINT64_MAX, .command_line = "test"};
	struct replay_summary sum;
	if (replay_run(&opt, &sum, err, sizeof(err)) < 0)
		fail_msg("replaying %s with emu: %s", out, err);
	assert_int_equal(sum.insn_steps, rs->insn_steps);
	assert_true(sum.insn_steps > 0);
	if (engine_emu ? sum.divergences : sum.new_divergences)
		fail_msg("emu diverges %llu times from the recording %s, first at step %llu (%s)",
		         (unsigned long long)sum.divergences, out,
		         (unsigned long long)sum.first_divergence.step, sum.first_divergence.cls);
	unsigned unexpected = 0;
	opt.backends = uc;
	opt.on_step = unicorn_class_expected;
	opt.on_step_arg = &unexpected;
	if (replay_run(&opt, &sum, err, sizeof(err)) < 0)
		fail_msg("replaying %s with unicorn: %s", out, err);
	assert_int_equal(sum.insn_steps, rs->insn_steps);
	if (engine_emu)
		assert_true(sum.unsupported > 0); /* the timer interrupts */
	assert_int_equal(unexpected, 0);
}

/* Steps the GRUB boot may take on KVM in exits mode, about ten times the 17247 it took under QEMU's TCG: a
 * boot gone astray ends here, not after its 20 virtual seconds (an hour of exits in the nested VM). */
#define GRUB_KVM_MAX_STEPS 200000

/* SeaBIOS boots GRUB from the disk (boot.img in sector 0, core.img from sector 1, as grub-bios-setup lays
 * them out): GRUB's kernel switches between protected and real mode for every BIOS disk call, then its
 * embedded configuration prints on the serial port and writes status 0 to the debug-exit port. With emu in
 * step mode; on KVM in exits mode (single steps are slow there), then replayed through emu and Unicorn. */
static void test_boot_grub(void **state)
{
	(void)state;
	need_seabios();
	if (access(GRUB_DIR "/boot.img", R_OK) != 0 || system("command -v grub-mkimage >/dev/null") != 0) {
		print_message("SKIP: GRUB for BIOS PCs missing (Debian package grub-pc-bin)\n");
		skip();
	}
	char cfg[300], core[300], disk[300], out[300], cmd[1200];
	FILE *f = fopen(tmp_path("grub.cfg", cfg, sizeof(cfg)), "w");
	assert_non_null(f);
	fputs("serial --unit=0 --speed=115200\nterminal_input serial\nterminal_output serial\n"
	      "echo grub: hello from GRUB\noutb 0xf4 0\n",
	      f);
	assert_int_equal(fclose(f), 0);
	snprintf(cmd, sizeof(cmd),
	         "grub-mkimage -O i386-pc -o '%s' -c '%s' -p '(hd0)/boot/grub' serial terminal echo iorw",
	         tmp_path("core.img", core, sizeof(core)), cfg);
	assert_int_equal(system(cmd), 0);
	f = fopen(tmp_path("grub.img", disk, sizeof(disk)), "wb");
	assert_non_null(f);
	assert_int_equal(ftruncate(fileno(f), 4 << 20), 0);
	put_file(f, GRUB_DIR "/boot.img", 0);
	put_file(f, core, 512);
	assert_int_equal(fclose(f), 0);

	struct rec_summary sum = record_pc(tmp_path("grub.trace", out, sizeof(out)), REC_MODE_EXITS, disk,
	                                   engine_emu ? 0 : GRUB_KVM_MAX_STEPS, 20);
	if (sum.end != REC_END_GUEST_EXIT || sum.guest_status != 0)
		fail_msg("the GRUB boot ended with '%s: %s', status %d", rec_end_name(sum.end),
		         sum.end_detail, sum.guest_status);
	struct trace *t;
	struct serial ser = {.len = 0};
	assert_int_equal(trace_open(&t, out), 0);
	assert_int_equal(trace_foreach_exit(t, collect_serial, &ser), 0);
	if (!strstr(ser.buf, "grub: hello from GRUB"))
		fail_msg("serial output lacks GRUB's line: \"%s\"", ser.buf);
	trace_close(t);
	print_message("GRUB boot: %llu steps (%llu instructions), %llu interrupts\n",
	              (unsigned long long)sum.steps, (unsigned long long)sum.insn_steps,
	              (unsigned long long)sum.interrupts);
	/* The emu recording's replay is test_boot_replay's (the POST): the whole boot per step costs minutes.
	 */
	if (!engine_emu)
		replay_emu_and_unicorn(out, &sum);
}

/* With emu: the first two million steps of the POST (the first timer interrupts, the firmware's ROM fetched
 * in place) replayed per step: emu repeats its own recording exactly. On KVM (where single steps are slow):
 * the POST to "No bootable device" in exits mode, every exiting instruction replayed, emu with no new
 * divergence from the reference. Unicorn differs only where it cannot follow. */
static void test_boot_replay(void **state)
{
	(void)state;
	need_seabios();
	char out[300];
	struct rec_summary rs =
	    engine_emu
	        ? record_pc(tmp_path("replay.trace", out, sizeof(out)), REC_MODE_STEP, NULL, 2000000, 0)
	        : record_pc(tmp_path("replay.trace", out, sizeof(out)), REC_MODE_EXITS, NULL, 0, 3);
	assert_int_equal(rs.end, engine_emu ? REC_END_MAX_STEPS : REC_END_TIMEOUT);
	assert_true(rs.interrupts > 0);
	replay_emu_and_unicorn(out, &rs);
}

static int collect_exit_rows(void *arg, const struct trace_exit *e)
{
	FILE *f = arg;
	fwrite(e, sizeof(*e), 1, f);
	return 0;
}

static int collect_event_rows(void *arg, const struct trace_event *e)
{
	FILE *f = arg;
	fwrite(e, sizeof(*e), 1, f);
	return 0;
}

/* Exits and events of a trace as one byte string (malloc'd). */
static char *rows(struct trace *t, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);
	assert_non_null(f);
	assert_int_equal(trace_foreach_exit(t, collect_exit_rows, f), 0);
	assert_int_equal(trace_foreach_event(t, collect_event_rows, f), 0);
	fclose(f);
	return buf;
}

/* Two trace files hold the same rows in every table but meta (how and when each was made). */
static void same_tables(const char *a, const char *b)
{
	static const char *const tables[] = {"chunks", "pages", "page_map", "exits", "events", "inputs"};
	char sql[1200];
	sqlite3 *db;

	assert_int_equal(sqlite3_open_v2(a, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	snprintf(sql, sizeof(sql), "ATTACH '%s' AS other", b);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		sqlite3_stmt *st;
		snprintf(sql, sizeof(sql),
		         "SELECT (SELECT count(*) FROM main.%s), (SELECT count(*) FROM other.%s),"
		         " (SELECT count(*) FROM (SELECT * FROM main.%s EXCEPT SELECT * FROM other.%s))",
		         tables[i], tables[i], tables[i], tables[i]);
		assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		long long na = sqlite3_column_int64(st, 0), nb = sqlite3_column_int64(st, 1);
		long long only_a = sqlite3_column_int64(st, 2);
		sqlite3_finalize(st);
		if (na != nb || only_a)
			fail_msg("%s and %s: table %s differs (%lld and %lld rows, %lld only in the first)",
			         a, b, tables[i], na, nb, only_a);
	}
	sqlite3_close(db);
}

/* The SeaBIOS POST up to "No bootable device", twice in exits mode: the same steps, the same state and
 * memory at every step, the same exits and injected interrupts; on KVM three times more, every table alike.
 */
static void test_boot_deterministic(void **state)
{
	(void)state;
	need_seabios();
	char a[300], b[300];
	struct rec_summary sa = record_pc(tmp_path("det-a.trace", a, sizeof(a)), REC_MODE_EXITS, NULL, 0, 3);
	struct rec_summary sb = record_pc(tmp_path("det-b.trace", b, sizeof(b)), REC_MODE_EXITS, NULL, 0, 3);
	assert_int_equal(sa.end, REC_END_TIMEOUT);
	assert_int_equal(sb.end, REC_END_TIMEOUT);
	assert_int_equal(sa.steps, sb.steps);
	assert_int_equal(sa.exits, sb.exits);
	assert_int_equal(sa.interrupts, sb.interrupts);
	assert_true(sa.interrupts > 0);

	struct trace *ta, *tb;
	assert_int_equal(trace_open(&ta, a), 0);
	assert_int_equal(trace_open(&tb, b), 0);
	/* The serial console (SeaBIOS's screen, sercon) shows the end of the POST. */
	struct serial ser = {.len = 0};
	assert_int_equal(trace_foreach_exit(ta, collect_serial, &ser), 0);
	if (!strstr(ser.buf, "No bootable device"))
		fail_msg("the POST did not reach \"No bootable device\" in %llu virtual seconds: \"%s\"",
		         (unsigned long long)boot_seconds(3), ser.buf);
	struct trace_iter *ia, *ib;
	struct trace_step s, u;
	assert_int_equal(trace_iter_start(ta, 0, &ia), 0);
	assert_int_equal(trace_iter_start(tb, 0, &ib), 0);
	uint64_t n = 0;
	static uint8_t pa[TRACE_PAGE_SIZE], pb[TRACE_PAGE_SIZE];
	while (trace_iter_next(ia, &s) == 1) {
		assert_int_equal(trace_iter_next(ib, &u), 1);
		if (s.kind != u.kind || memcmp(&s.pre, &u.pre, sizeof(s.pre)) != 0)
			fail_msg("step %llu differs between two recordings of the same boot",
			         (unsigned long long)n);
		/* Memory every 256 steps (every 65536 in step mode): every page of the first MiB (firmware
		 * data, stacks, tables). */
		if (n % (engine_emu ? 65536 : 256) == 0)
			for (uint64_t gpa = 0; gpa < 0x100000; gpa += TRACE_PAGE_SIZE) {
				assert_int_equal(trace_iter_memory(ia, gpa, pa, sizeof(pa)), 0);
				assert_int_equal(trace_iter_memory(ib, gpa, pb, sizeof(pb)), 0);
				if (memcmp(pa, pb, sizeof(pa)))
					fail_msg("memory at 0x%llx differs at step %llu",
					         (unsigned long long)gpa, (unsigned long long)n);
			}
		n++;
	}
	assert_int_equal(trace_iter_next(ib, &u), 0);
	trace_iter_end(ia);
	trace_iter_end(ib);
	assert_int_equal(n, sa.steps);
	size_t la, lb;
	char *ra = rows(ta, &la), *rb = rows(tb, &lb);
	assert_int_equal(la, lb);
	assert_memory_equal(ra, rb, la);
	free(ra);
	free(rb);
	trace_close(ta);
	trace_close(tb);
	same_tables(a, b);
	/* Three more recordings (on KVM): every table but meta row for row as in the first. */
	for (int k = 0; k < (engine_emu ? 0 : 3); k++) {
		char c[300], name[32];
		snprintf(name, sizeof(name), "det-%d.trace", k);
		struct rec_summary sc = record_pc(tmp_path(name, c, sizeof(c)), REC_MODE_EXITS, NULL, 0, 3);
		assert_int_equal(sc.steps, sa.steps);
		same_tables(a, c);
		unlink(c);
	}
}

/* Step mode from the reset vector: F000:FFF0 with CS base FFFF0000, every step one instruction. */
static void test_boot_step_prefix(void **state)
{
	(void)state;
	need_seabios();
	char out[300];
	struct rec_summary sum =
	    record_pc(tmp_path("step.trace", out, sizeof(out)), REC_MODE_STEP, NULL, 20000, 0);
	assert_int_equal(sum.end, REC_END_MAX_STEPS);
	assert_int_equal(sum.insn_steps, 20000);
	struct trace *t;
	struct x86_state st;
	assert_int_equal(trace_open(&t, out), 0);
	assert_int_equal(trace_state_at(t, 0, &st), 0);
	assert_int_equal(st.seg[X86_CS].selector, 0xf000);
	assert_int_equal(st.seg[X86_CS].base, 0xffff0000u);
	assert_int_equal(st.rip, 0xfff0);
	/* The device checkpoint before step 0 is in the trace. */
	uint8_t *devices = NULL;
	size_t devices_len = 0;
	uint64_t at = UINT64_MAX;
	assert_int_equal(trace_get_device_checkpoint(t, 0, &at, &devices, &devices_len), 0);
	assert_int_equal(at, 0);
	assert_true(devices_len > 50);
	free(devices);
	trace_close(t);
}

/* SIGTERM in the middle of a boot: exit status 0, a complete trace that says "interrupted". */
static void test_boot_sigterm(void **state)
{
	(void)state;
	need_seabios();
	const char *bin = getenv("EMUDIFF_BIN");
	if (!bin)
		skip();
	char out[300];
	tmp_path("term.trace", out, sizeof(out));
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);
		dup2(devnull, 2);
		if (engine_emu)
			execl(bin, bin, "record", "--engine", "emu", "--mode", "step", "--bios", SEABIOS,
			      "--timeout", "100000", "--force", "-o", out, (char *)NULL);
		else
			execl(bin, bin, "record", "--mode", "exits", "--bios", SEABIOS, "--timeout", "100000",
			      "--force", "-o", out, (char *)NULL);
		_exit(127);
	}
	/* Wait until the recording has started (the trace exists), then stop it. */
	for (int i = 0; i < 200 && access(out, F_OK) != 0; i++) {
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	struct timespec ts = {0, 300 * 1000 * 1000};
	nanosleep(&ts, NULL);
	kill(pid, SIGTERM);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	/* Interrupted: a complete trace, but not of the whole run, so not a success. */
	assert_int_equal(WEXITSTATUS(status), 130);
	struct trace *t;
	assert_int_equal(trace_open(&t, out), 0);
	assert_true(trace_is_complete(t));
	char reason[256];
	assert_int_equal(trace_meta_get(t, "end_reason", reason, sizeof(reason)), 0);
	if (strncmp(reason, "interrupted", 11) != 0)
		fail_msg("end reason \"%s\", expected \"interrupted: signal 15\"", reason);
	trace_close(t);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

/* A multiboot ELF kernel loaded at 1 MiB: checks EAX, the flat CS, the command line's first byte and
 * mem_upper, then exits with status 0 (a failed check exits with its number). */
static void test_multiboot(void **state)
{
	(void)state;
	/* nasm, bits 32, org 0x100080: cmp eax, 0x2badb002 / jne f1 / mov eax, cs / cmp eax, 8 / jne f2 /
	 * mov eax, [ebx+16] / cmp byte [eax], 'x' / jne f3 / cmp dword [ebx+8], 31744 / jne f4 /
	 * out 'm', 'b' to 0x3f8 / out 0xf4, 0 / cli / hlt; f1..f4: out 0xf4, 1..4 / hlt. */
	static const uint8_t code[] = {
	    0x3d, 0x02, 0xb0, 0xad, 0x2b, 0x75, 0x28, 0x8c, 0xc8, 0x83, 0xf8, 0x08, 0x75, 0x26,
	    0x8b, 0x43, 0x10, 0x80, 0x38, 0x78, 0x75, 0x23, 0x81, 0x7b, 0x08, 0x00, 0x7c, 0x00,
	    0x00, 0x75, 0x1f, 0x66, 0xba, 0xf8, 0x03, 0xb0, 0x6d, 0xee, 0xb0, 0x62, 0xee, 0x31,
	    0xc0, 0xe6, 0xf4, 0xfa, 0xf4, 0xb0, 0x01, 0xe6, 0xf4, 0xf4, 0xb0, 0x02, 0xe6, 0xf4,
	    0xf4, 0xb0, 0x03, 0xe6, 0xf4, 0xf4, 0xb0, 0x04, 0xe6, 0xf4, 0xf4,
	};
	uint8_t img[0x200] = {0};
	const uint32_t base = 0x100000, code_off = 0x80;
	/* ELF header. */
	memcpy(img,
	       "\x7f"
	       "ELF",
	       4);
	img[4] = 1; /* 32-bit */
	img[5] = 1; /* little-endian */
	img[6] = 1;
	put16(img + 16, 2); /* executable */
	put16(img + 18, 3); /* i386 */
	put32(img + 20, 1);
	put32(img + 24, base + code_off);
	put32(img + 28, 52); /* phoff */
	put16(img + 40, 52);
	put16(img + 42, 32);
	put16(img + 44, 1);
	/* One PT_LOAD of the whole file at 1 MiB. */
	uint8_t *ph = img + 52;
	put32(ph, 1);
	put32(ph + 4, 0);
	put32(ph + 8, base);
	put32(ph + 12, base);
	put32(ph + 16, sizeof(img));
	put32(ph + 20, sizeof(img));
	put32(ph + 24, 7);
	/* Multiboot header: magic, flags (memory info), checksum. */
	put32(img + 0x60, 0x1badb002);
	put32(img + 0x64, 2);
	put32(img + 0x68, (uint32_t) - (0x1badb002u + 2));
	memcpy(img + code_off, code, sizeof(code));

	char kpath[300], out[300];
	FILE *f = fopen(tmp_path("mb.elf", kpath, sizeof(kpath)), "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(img, 1, sizeof(img), f), sizeof(img));
	assert_int_equal(fclose(f), 0);
	struct rec_options opt = {
	    .output = tmp_path("mb.trace", out, sizeof(out)),
	    .force = true,
	    .engine = engine_emu ? REC_ENGINE_EMU : REC_ENGINE_KVM,
	    .mode = REC_MODE_STEP,
	    .mem_bytes = 32u << 20,
	    .multiboot_path = kpath,
	    .kernel_cmdline = "x=1",
	    .command_line = "test",
	};
	struct rec_summary sum;
	char err[512] = "";
	int rc = recorder_run(&opt, &sum, err, sizeof(err));
	if (rc)
		fail_msg("recording the multiboot kernel: %d: %s", rc, err);
	if (sum.end != REC_END_GUEST_EXIT || sum.guest_status != 0)
		fail_msg("multiboot kernel ended with '%s: %s' status %d", rec_end_name(sum.end),
		         sum.end_detail, sum.guest_status);
	struct trace *t;
	struct x86_state st;
	assert_int_equal(trace_open(&t, out), 0);
	assert_int_equal(trace_state_at(t, 0, &st), 0);
	assert_true(st.cr0 & X86_CR0_PE);
	assert_false(st.rflags & X86_RFLAGS_IF);
	assert_int_equal(st.rip, base + code_off);
	assert_int_equal(st.gpr[X86_RAX], 0x2badb002u);
	char console[256];
	assert_int_equal(trace_meta_get(t, "console", console, sizeof(console)), 0);
	assert_non_null(strstr(console, "mb"));
	trace_close(t);
}

/* The A20 gate: a 4 KiB firmware image writes 0x5a at 0x10 and 0xa5 at 0x100010, turns A20 off (port 0x92,
 * then the i8042), reads FFFF:0020 (0x5a: it wrapped to 0x10), writes 0x77 at FFFF:0021 (lands at 0x11),
 * turns A20 on through the i8042 and reads 0xa5 back; status 1-3 names a failed check. Step and exits. */
static void test_a20_wrap(void **state)
{
	(void)state;
	/* nasm, bits 16, org 0xf000: the checks above, then out 0xf4 with the status; cli; hlt. */
	static const uint8_t code[] = {
	    0xfa, 0x31, 0xc0, 0x8e, 0xd8, 0xc6, 0x06, 0x10, 0x00, 0x5a, 0xb8, 0xff, 0xff, 0x8e,
	    0xc0, 0x26, 0xc6, 0x06, 0x20, 0x00, 0xa5, 0xe4, 0x92, 0x24, 0xfd, 0xe6, 0x92, 0xb0,
	    0xdd, 0xe6, 0x64, 0x26, 0x8a, 0x1e, 0x20, 0x00, 0x26, 0xc6, 0x06, 0x21, 0x00, 0x77,
	    0xb0, 0xdf, 0xe6, 0x64, 0x26, 0x8a, 0x3e, 0x20, 0x00, 0x8a, 0x0e, 0x11, 0x00, 0xb0,
	    0x01, 0x80, 0xfb, 0x5a, 0x75, 0x10, 0xb0, 0x02, 0x80, 0xff, 0xa5, 0x75, 0x09, 0xb0,
	    0x03, 0x80, 0xf9, 0x77, 0x75, 0x02, 0x30, 0xc0, 0xe6, 0xf4, 0xfa, 0xf4,
	};
	static const uint8_t reset[] = {0xea, 0x00, 0xf0, 0x00, 0xf0}; /* jmp f000:f000 */
	uint8_t rom[4096] = {0};
	memcpy(rom, code, sizeof(code));
	memcpy(rom + 0xff0, reset, sizeof(reset));
	char path[300], out[300];
	FILE *f = fopen(tmp_path("a20.rom", path, sizeof(path)), "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(rom, 1, sizeof(rom), f), sizeof(rom));
	assert_int_equal(fclose(f), 0);
	static const enum rec_mode modes[] = {REC_MODE_STEP, REC_MODE_EXITS};
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		struct rec_options opt = {
		    .output = tmp_path("a20.trace", out, sizeof(out)),
		    .force = true,
		    .engine = engine_emu ? REC_ENGINE_EMU : REC_ENGINE_KVM,
		    .mode = engine_mode(modes[i]),
		    .mem_bytes = 16u << 20,
		    .bios_path = path,
		    .guest_path = path,
		    .command_line = "test",
		};
		struct rec_summary sum;
		char err[512] = "";
		if (recorder_run(&opt, &sum, err, sizeof(err)))
			fail_msg("recording the A20 guest: %s", err);
		if (sum.end != REC_END_GUEST_EXIT || sum.guest_status != 0)
			fail_msg("mode %d: A20 guest ended with '%s' status %d", (int)modes[i],
			         rec_end_name(sum.end), sum.guest_status);
		/* The write through the wrapped address is in the trace at the RAM it changed. */
		struct trace *t;
		uint8_t b[2];
		assert_int_equal(trace_open(&t, out), 0);
		assert_int_equal(trace_memory_at(t, trace_step_count(t) - 1, 0x10, b, 2), 0);
		assert_int_equal(b[0], 0x5a);
		assert_int_equal(b[1], 0x77);
		trace_close(t);
	}
}

int main(int argc, char **argv)
{
	int status = test_engine_select(argc, argv, "test_boot", &engine_emu);
	if (status >= 0)
		return status;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/emudiff-boot-test-XXXXXX");
	if (!mkdtemp(tmpdir)) {
		fprintf(stderr, "cannot create a temporary directory: %s\n", strerror(errno));
		return 1;
	}
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_boot_disk),        cmocka_unit_test(test_boot_grub),
	    cmocka_unit_test(test_boot_replay),      cmocka_unit_test(test_boot_deterministic),
	    cmocka_unit_test(test_boot_step_prefix), cmocka_unit_test(test_boot_sigterm),
	    cmocka_unit_test(test_multiboot),        cmocka_unit_test(test_a20_wrap),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (getenv("EMUDIFF_KEEP_TMP"))
		fprintf(stderr, "kept %s\n", tmpdir);
	else if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
	return rc;
}
