/* trace_step_ran_native: which steps a PVM reference (kvm-emulator) ran on natively past a return to CPL 3.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "trace.h"

/* Identity-mapped 2 MiB page over this much RAM; the code at CODE, the kernel stack (a return frame) at
 * FRAME. */
#define RAM   0x10000u
#define PML4  0x4000u
#define CODE  0x1000u
#define FRAME 0x7f00u

static uint8_t ram[RAM];

static int read_ram(void *arg, uint64_t gpa, void *buf, size_t len)
{
	(void)arg;
	if (gpa >= RAM || len > RAM - gpa)
		return -EFAULT;
	memcpy(buf, ram + gpa, len);
	return 0;
}

static void put(uint64_t gpa, uint64_t v, unsigned width)
{
	for (unsigned i = 0; i < width; i++)
		ram[gpa + i] = (uint8_t)(v >> (8 * i));
}

enum post_at { AT_TARGET, PAST_TARGET, OTHER_CS };

static const struct {
	const char *what;
	const char *reference;
	uint8_t insn[4];
	unsigned opsize;   /* of the stack frame: RIP then CS */
	uint64_t frame_cs; /* the CS the frame (or SYSRET's STAR) returns to */
	bool pre_compat;   /* pre-state in compatibility mode rather than 64-bit mode */
	unsigned pre_cpl, post_cpl;
	enum post_at post;
	uint64_t rsp; /* 0: FRAME */
	bool native;
	int line;
} rows[] = {
    {"iretq ran on", "kvm-emulator", {0x48, 0xcf}, 8, 0x2b, false, 0, 3, PAST_TARGET, 0, true, __LINE__},
    {"iretq at its target",
     "kvm-emulator",
     {0x48, 0xcf},
     8,
     0x2b,
     false,
     0,
     3,
     AT_TARGET,
     0,
     false,
     __LINE__},
    {"iretq to another CS", "kvm-emulator", {0x48, 0xcf}, 8, 0x2b, false, 0, 3, OTHER_CS, 0, true, __LINE__},
    {"iretq on silicon", "silicon", {0x48, 0xcf}, 8, 0x2b, false, 0, 3, PAST_TARGET, 0, false, __LINE__},
    {"iretq on QEMU TCG", "qemu-tcg", {0x48, 0xcf}, 8, 0x2b, false, 0, 3, PAST_TARGET, 0, false, __LINE__},
    {"iretq recorded by emu", "emu", {0x48, 0xcf}, 8, 0x2b, false, 0, 3, PAST_TARGET, 0, false, __LINE__},
    {"iretd: a 4-byte frame", "kvm-emulator", {0xcf}, 4, 0x2b, false, 0, 3, PAST_TARGET, 0, true, __LINE__},
    {"iretd at its target", "kvm-emulator", {0xcf}, 4, 0x2b, false, 0, 3, AT_TARGET, 0, false, __LINE__},
    {"o16 iret at its target",
     "kvm-emulator",
     {0x66, 0xcf},
     2,
     0x2b,
     false,
     0,
     3,
     AT_TARGET,
     0,
     false,
     __LINE__},
    {"o16 iret ran on", "kvm-emulator", {0x66, 0xcf}, 2, 0x2b, false, 0, 3, PAST_TARGET, 0, true, __LINE__},
    {"REX.W after 66 wins",
     "kvm-emulator",
     {0x66, 0x48, 0xcf},
     8,
     0x2b,
     false,
     0,
     3,
     AT_TARGET,
     0,
     false,
     __LINE__},
    {"REX before 66 counts not",
     "kvm-emulator",
     {0x48, 0x66, 0xcf},
     2,
     0x2b,
     false,
     0,
     3,
     PAST_TARGET,
     0,
     true,
     __LINE__},
    {"retfq ran on", "kvm-emulator", {0x48, 0xcb}, 8, 0x2b, false, 0, 3, PAST_TARGET, 0, true, __LINE__},
    {"retf imm16 at its target",
     "kvm-emulator",
     {0xca, 0x08, 0x00},
     4,
     0x2b,
     false,
     0,
     3,
     AT_TARGET,
     0,
     false,
     __LINE__},
    {"sysretq ran on",
     "kvm-emulator",
     {0x48, 0x0f, 0x07},
     0,
     0x33,
     false,
     0,
     3,
     PAST_TARGET,
     0,
     true,
     __LINE__},
    {"sysretq at its target",
     "kvm-emulator",
     {0x48, 0x0f, 0x07},
     0,
     0x33,
     false,
     0,
     3,
     AT_TARGET,
     0,
     false,
     __LINE__},
    {"sysret (compat) at its target",
     "kvm-emulator",
     {0x0f, 0x07},
     0,
     0x23,
     false,
     0,
     3,
     AT_TARGET,
     0,
     false,
     __LINE__},
    {"sysexitq ran on",
     "kvm-emulator",
     {0x48, 0x0f, 0x35},
     0,
     0x43,
     false,
     0,
     3,
     PAST_TARGET,
     0,
     true,
     __LINE__},
    {"sysexit at its target",
     "kvm-emulator",
     {0x0f, 0x35},
     0,
     0x33,
     false,
     0,
     3,
     AT_TARGET,
     0,
     false,
     __LINE__},
    {"iretq to CPL 0", "kvm-emulator", {0x48, 0xcf}, 8, 0x08, false, 0, 0, PAST_TARGET, 0, false, __LINE__},
    {"iretq to CPL 3, ended at CPL 0",
     "kvm-emulator",
     {0x48, 0xcf},
     8,
     0x2b,
     false,
     0,
     0,
     PAST_TARGET,
     0,
     false,
     __LINE__},
    {"a frame to CPL 0, ended at CPL 3",
     "kvm-emulator",
     {0x48, 0xcf},
     8,
     0x08,
     false,
     0,
     3,
     PAST_TARGET,
     0,
     false,
     __LINE__},
    {"not a return", "kvm-emulator", {0x90}, 8, 0x2b, false, 0, 3, PAST_TARGET, 0, false, __LINE__},
    {"two-byte map, not SYSRET",
     "kvm-emulator",
     {0x0f, 0x05},
     8,
     0x2b,
     false,
     0,
     3,
     PAST_TARGET,
     0,
     false,
     __LINE__},
    {"from compatibility mode", "kvm-emulator", {0xcf}, 4, 0x2b, true, 0, 3, PAST_TARGET, 0, false, __LINE__},
    {"from CPL 3", "kvm-emulator", {0x48, 0xcf}, 8, 0x2b, false, 3, 3, PAST_TARGET, 0, false, __LINE__},
    {"frame not in memory",
     "kvm-emulator",
     {0x48, 0xcf},
     8,
     0x2b,
     false,
     0,
     3,
     PAST_TARGET,
     RAM + 0x100,
     false,
     __LINE__},
    {"frame not mapped",
     "kvm-emulator",
     {0x48, 0xcf},
     8,
     0x2b,
     false,
     0,
     3,
     PAST_TARGET,
     0x40000000,
     false,
     __LINE__},
};

static void test_rule_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct x86_state pre, post;
		const uint64_t target = 0x2000;

		memset(ram, 0, sizeof(ram));
		put(PML4, (PML4 + 0x1000) | 0x27, 8);
		put(PML4 + 0x1000, (PML4 + 0x2000) | 0x27, 8);
		put(PML4 + 0x2000, 0xe7, 8);
		memcpy(ram + CODE, rows[i].insn, sizeof(rows[i].insn));
		if (rows[i].opsize) {
			put(FRAME, target, rows[i].opsize);
			put(FRAME + rows[i].opsize, rows[i].frame_cs, rows[i].opsize);
		}
		memset(&pre, 0, sizeof(pre));
		pre.cr0 = 0x80000011;
		pre.cr3 = PML4;
		pre.cr4 = 0x20;
		pre.efer = 0x500;
		pre.rip = CODE;
		pre.gpr[X86_RSP] = rows[i].rsp ? rows[i].rsp : FRAME;
		/* SYSRET's RIP (SYSEXIT's: RDX); a 32-bit one takes ECX (EDX) alone. */
		uint64_t high = rows[i].insn[0] == 0x48 ? 0 : 0xffffffff00000000ull;
		pre.gpr[X86_RCX] = pre.gpr[X86_RDX] = high | target;
		/* SYSRET returns to STAR[63:48] (+16 for 64-bit), SYSEXIT to SYSENTER_CS + 16 (+32 for
		 * 64-bit). */
		pre.msr[X86_MSR_STAR] =
		    (uint64_t)((rows[i].frame_cs & ~3ull) - (rows[i].insn[0] == 0x48 ? 16 : 0)) << 48;
		pre.msr[X86_MSR_SYSENTER_CS] =
		    (rows[i].frame_cs & ~3ull) - (rows[i].insn[0] == 0x48 ? 32 : 16);
		pre.seg[X86_CS].selector = 0x08;
		pre.seg[X86_CS].attr = rows[i].pre_compat ? 0xc09b : 0xa09b;
		pre.seg[X86_SS].attr = 0xc093 | rows[i].pre_cpl << X86_SEG_DPL_SHIFT;
		post = pre;
		post.rip = rows[i].post == PAST_TARGET ? target + 1 : target;
		post.seg[X86_CS].selector = (uint16_t)(rows[i].post == OTHER_CS ? 0x1b : rows[i].frame_cs);
		post.seg[X86_SS].attr = 0xc093 | rows[i].post_cpl << X86_SEG_DPL_SHIFT;
		post.seg[X86_CS].attr = 0xc0fb;
		bool got = trace_step_ran_native(rows[i].reference, &pre, &post, read_ram, NULL);
		if (got != rows[i].native)
			fail_msg("line %d (%s): native %d, want %d", rows[i].line, rows[i].what, got,
			         rows[i].native);
	}
}

/* NATIVE steps are stored and read back as such, counted apart by trace_stats; a kind past them is refused.
 */
static void test_native_kind_round_trip(void **state)
{
	static const enum trace_step_kind kinds[] = {TRACE_STEP_INSN,  TRACE_STEP_NATIVE, TRACE_STEP_INSN,
	                                             TRACE_STEP_RUN,   TRACE_STEP_NATIVE, TRACE_STEP_FALLBACK,
	                                             TRACE_STEP_NATIVE};
	const uint64_t n = sizeof(kinds) / sizeof(kinds[0]);
	char path[] = "/tmp/emudiff-native-XXXXXX";
	struct trace *t = NULL;
	struct trace_stats st;
	struct x86_state s;
	(void)state;

	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	x86_state_real(&s, 0, 0x1000, 0x8000);
	assert_int_equal(trace_create(&t, path, true), 0);
	for (uint64_t i = 0; i < n; i++) {
		struct trace_step step = {.index = i, .kind = kinds[i], .pre = s};
		assert_int_equal(trace_append_step(t, &step), 0);
		s.rip++;
	}
	struct trace_step bad = {.index = n, .kind = (enum trace_step_kind)TRACE_STEP_KINDS, .pre = s};
	assert_int_equal(trace_append_step(t, &bad), -EINVAL);
	assert_int_equal(trace_finish(t, &s, "test"), 0);
	trace_close(t);

	assert_int_equal(trace_open(&t, path), 0);
	for (uint64_t i = 0; i < n; i++) {
		struct trace_step step;
		assert_int_equal(trace_step_at(t, i, &step), 0);
		assert_int_equal(step.kind, kinds[i]);
	}
	assert_int_equal(trace_stats(t, &st), 0);
	assert_int_equal(st.insn_steps, 2);
	assert_int_equal(st.run_steps, 1);
	assert_int_equal(st.fallback_steps, 1);
	assert_int_equal(st.native_steps, 3);
	trace_close(t);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rule_table),
	    cmocka_unit_test(test_native_kind_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
