/* Device bus unit tests: no KVM involved. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "devices.h"

static struct devbus *std_bus(void)
{
	struct devbus *bus = devbus_new();

	assert_non_null(bus);
	assert_int_equal(devbus_add_standard(bus), 0);
	return bus;
}

static uint32_t inp(struct devbus *bus, uint16_t port, unsigned size, int *ret)
{
	uint8_t d[4] = {0x11, 0x22, 0x33, 0x44};
	uint32_t v = 0;

	*ret = devbus_pio(bus, port, size, false, d, 1);
	memcpy(&v, d, size);
	return v;
}

static int outp(struct devbus *bus, uint16_t port, unsigned size, uint32_t v)
{
	uint8_t d[4];

	memcpy(d, &v, 4);
	return devbus_pio(bus, port, size, true, d, 1);
}

static void console_is(struct devbus *bus, const char *want)
{
	size_t len;
	const uint8_t *c = devbus_console(bus, &len);

	assert_int_equal(len, strlen(want));
	assert_memory_equal(c, want, len);
}

static void test_uart_output(void **state)
{
	struct devbus *bus = std_bus();
	int r;

	(void)state;
	/* A polling guest: LSR says the transmitter is empty. */
	assert_int_equal(inp(bus, DEVBUS_PORT_COM1 + 5, 1, &r) & 0x60, 0x60);
	assert_int_equal(r, 0);
	assert_int_equal(outp(bus, DEVBUS_PORT_COM1, 1, 'H'), 0);
	assert_int_equal(outp(bus, DEVBUS_PORT_COM1, 1, 'i'), 0);
	console_is(bus, "Hi");
	/* REP OUTSB: count 3 in one call. */
	assert_int_equal(devbus_pio(bus, DEVBUS_PORT_COM1, 1, true, (uint8_t *)"abc", 3), 0);
	console_is(bus, "Hiabc");
	/* The debug consoles share the console with the UART, in order. */
	assert_int_equal(outp(bus, DEVBUS_PORT_DEBUGCON, 1, '!'), 0);
	assert_int_equal(outp(bus, DEVBUS_PORT_SEABIOS_DEBUG, 1, '?'), 0);
	console_is(bus, "Hiabc!?");
	/* No receive data: DR clear, RBR reads 0. */
	assert_int_equal(inp(bus, DEVBUS_PORT_COM1 + 5, 1, &r) & 0x01, 0);
	/* Scratch register keeps its value. */
	outp(bus, DEVBUS_PORT_COM1 + 7, 1, 0x5a);
	assert_int_equal(inp(bus, DEVBUS_PORT_COM1 + 7, 1, &r), 0x5a);
	devbus_free(bus);
}

static void test_uart_divisor_latch(void **state)
{
	struct devbus *bus = std_bus();
	int r;

	(void)state;
	outp(bus, DEVBUS_PORT_COM1 + 3, 1, 0x83); /* DLAB, 8N1 */
	outp(bus, DEVBUS_PORT_COM1 + 0, 1, 0x01); /* DLL: 115200 baud, not a byte to send */
	outp(bus, DEVBUS_PORT_COM1 + 1, 1, 0x00);
	assert_int_equal(inp(bus, DEVBUS_PORT_COM1 + 0, 1, &r), 0x01);
	assert_int_equal(inp(bus, DEVBUS_PORT_COM1 + 3, 1, &r), 0x83);
	outp(bus, DEVBUS_PORT_COM1 + 3, 1, 0x03);
	console_is(bus, "");
	outp(bus, DEVBUS_PORT_COM1, 1, 'x');
	console_is(bus, "x");
	devbus_free(bus);
}

static void test_uart_receive(void **state)
{
	struct devbus *bus = std_bus();
	uint8_t big[300];
	int r;

	(void)state;
	assert_int_equal(devbus_uart_input(bus, "post", (const uint8_t *)"x", 1), 0); /* not a UART */
	assert_int_equal(devbus_uart_input(bus, "com1", (const uint8_t *)"ok", 2), 2);
	assert_int_equal(inp(bus, DEVBUS_PORT_COM1 + 5, 1, &r) & 0x01, 0x01);
	assert_int_equal(inp(bus, DEVBUS_PORT_COM1, 1, &r), 'o');
	assert_int_equal(inp(bus, DEVBUS_PORT_COM1, 1, &r), 'k');
	assert_int_equal(inp(bus, DEVBUS_PORT_COM1 + 5, 1, &r) & 0x01, 0);
	assert_int_equal(inp(bus, DEVBUS_PORT_COM1, 1, &r), 0);
	/* Received-data interrupt, once enabled with OUT2. */
	outp(bus, DEVBUS_PORT_COM1 + 4, 1, 0x08);
	outp(bus, DEVBUS_PORT_COM1 + 1, 1, 0x01);
	assert_false(devbus_irq_level(bus, DEVBUS_IRQ_COM1));
	devbus_uart_input(bus, "com1", (const uint8_t *)"z", 1);
	assert_true(devbus_irq_level(bus, DEVBUS_IRQ_COM1));
	assert_int_equal(inp(bus, DEVBUS_PORT_COM1 + 2, 1, &r), 0x04);
	inp(bus, DEVBUS_PORT_COM1, 1, &r);
	assert_false(devbus_irq_level(bus, DEVBUS_IRQ_COM1));
	/* Bounded: a flood is cut at the queue size. */
	memset(big, 'a', sizeof(big));
	assert_int_equal(devbus_uart_input(bus, "com1", big, sizeof(big)), 256);
	/* Loopback: what the guest sends comes back, not to the console. */
	outp(bus, DEVBUS_PORT_COM1 + 2, 1, 0x02); /* FCR: clear the receive FIFO */
	assert_int_equal(inp(bus, DEVBUS_PORT_COM1 + 5, 1, &r) & 0x01, 0);
	outp(bus, DEVBUS_PORT_COM1 + 4, 1, 0x10 | 0x0a);
	outp(bus, DEVBUS_PORT_COM1, 1, 'L');
	assert_int_equal(inp(bus, DEVBUS_PORT_COM1, 1, &r), 'L');
	assert_int_equal(inp(bus, DEVBUS_PORT_COM1 + 6, 1, &r) & 0xf0, 0x90); /* RTS->CTS, OUT2->DCD */
	console_is(bus, "");
	devbus_free(bus);
}

struct irq_log {
	int changes;
	unsigned line;
	bool level;
};

static void log_irq(void *opaque, unsigned line, bool level)
{
	struct irq_log *l = opaque;

	l->changes++;
	l->line = line;
	l->level = level;
}

static bool log_pending(void *opaque)
{
	return ((struct irq_log *)opaque)->level;
}

static int log_ack(void *opaque)
{
	return 0x20 + (int)((struct irq_log *)opaque)->line;
}

static const struct devbus_intc_ops log_intc = {log_irq, log_pending, log_ack};

static void test_uart_thre_interrupt(void **state)
{
	struct devbus *bus = std_bus();
	struct irq_log log = {0};
	int r;

	(void)state;
	assert_false(devbus_intr_pending(bus));
	assert_int_equal(devbus_intr_ack(bus), -1);
	devbus_set_intc(bus, &log_intc, &log);
	assert_int_equal(inp(bus, DEVBUS_PORT_COM1 + 2, 1, &r), 0x01); /* no interrupt */
	outp(bus, DEVBUS_PORT_COM1 + 4, 1, 0x08);                      /* OUT2: IRQ reaches the bus */
	outp(bus, DEVBUS_PORT_COM1 + 1, 1, 0x02);                      /* enable THRE interrupt */
	assert_true(devbus_irq_level(bus, DEVBUS_IRQ_COM1));
	assert_int_equal(log.line, DEVBUS_IRQ_COM1);
	assert_true(log.level);
	assert_true(devbus_intr_pending(bus));
	assert_int_equal(devbus_intr_ack(bus), 0x20 + DEVBUS_IRQ_COM1);
	/* Reading IIR reports and acknowledges THRE. */
	assert_int_equal(inp(bus, DEVBUS_PORT_COM1 + 2, 1, &r), 0x02);
	assert_false(devbus_irq_level(bus, DEVBUS_IRQ_COM1));
	assert_false(log.level);
	assert_int_equal(log.changes, 2);
	/* Sending a byte makes the transmitter empty again: THRE once more. */
	outp(bus, DEVBUS_PORT_COM1, 1, 'z');
	assert_true(devbus_irq_level(bus, DEVBUS_IRQ_COM1));
	devbus_free(bus);
}

static void test_debug_exit_and_post(void **state)
{
	struct devbus *bus = std_bus();
	uint32_t status = 99;

	(void)state;
	assert_false(devbus_guest_exited(bus, &status));
	assert_null(devbus_exit_message(bus));
	assert_int_equal(devbus_post_code(bus), -1);
	assert_int_equal(outp(bus, DEVBUS_PORT_POST, 1, 0x55), 0);
	assert_int_equal(devbus_post_code(bus), 0x55);
	assert_int_equal(outp(bus, DEVBUS_PORT_DEBUG_EXIT, 1, 0x12a), 0); /* a byte write keeps 0x2a */
	assert_true(devbus_guest_exited(bus, &status));
	assert_int_equal(status, 42);
	assert_string_equal(devbus_exit_message(bus), "guest exited with status 42");
	assert_int_equal(outp(bus, DEVBUS_PORT_DEBUG_EXIT, 4, 0x10000), 0);
	assert_true(devbus_guest_exited(bus, &status));
	assert_int_equal(status, 0x10000);
	/* A checkpoint carries the exit and the POST code. */
	{
		struct devbus *other = std_bus();
		uint8_t *cp;
		size_t len;

		assert_int_equal(devbus_save(bus, &cp, &len), 0);
		assert_int_equal(devbus_restore(other, cp, len), 0);
		assert_string_equal(devbus_exit_message(other), "guest exited with status 65536");
		assert_int_equal(devbus_post_code(other), 0x55);
		free(cp);
		devbus_free(other);
	}
	devbus_free(bus);
}

static const struct {
	uint16_t port;
	unsigned size;
	uint32_t want;
	int ret;
	const char *file;
	int line;
} absent_rows[] = {
    {0x1234, 1, 0xff, 1, __FILE__, __LINE__},
    {0x1234, 2, 0xffff, 1, __FILE__, __LINE__},
    {0x1234, 4, 0xffffffff, 1, __FILE__, __LINE__},
    {0xffff, 4, 0xffffffff, 1, __FILE__, __LINE__},
    {0x70, 1, 0xff, 1, __FILE__, __LINE__},
    /* A word at the UART's last port: low byte from SCR (0 after reset), high byte absent. */
    {DEVBUS_PORT_COM1 + 7, 2, 0xff00, 0, __FILE__, __LINE__},
    {DEVBUS_PORT_DEBUGCON, 1, 0xe9, 0, __FILE__, __LINE__},
};

static void test_unknown_port_all_ones(void **state)
{
	struct devbus *bus = std_bus();

	(void)state;
	for (size_t i = 0; i < sizeof(absent_rows) / sizeof(absent_rows[0]); i++) {
		int r;
		uint32_t v = inp(bus, absent_rows[i].port, absent_rows[i].size, &r);

		if (v != absent_rows[i].want || r != absent_rows[i].ret)
			fail_msg("%s:%d: port %#x size %u read %#x ret %d, want %#x ret %d",
			         absent_rows[i].file, absent_rows[i].line, absent_rows[i].port,
			         absent_rows[i].size, v, r, absent_rows[i].want, absent_rows[i].ret);
	}
	/* Writes to absent ports are dropped, and say so. */
	assert_int_equal(outp(bus, 0x1234, 4, 0xdeadbeef), 1);
	/* Sizes the bus refuses do not crash it. */
	{
		uint8_t d[8];

		assert_int_equal(devbus_pio(bus, 0x3f8, 3, false, d, 1), -EINVAL);
		assert_int_equal(devbus_pio(bus, 0x3f8, 8, true, d, 1), -EINVAL);
		assert_int_equal(devbus_mmio(bus, DEVBUS_MMIO_TEST_BASE, 0, false, d), -EINVAL);
		assert_int_equal(devbus_mmio(bus, 0x10, 8, false, d), 1);
		assert_int_equal(d[7], 0xff);
	}
	devbus_free(bus);
}

static uint64_t mmio_read(struct devbus *bus, uint64_t gpa, unsigned size)
{
	uint8_t d[8] = {0};
	uint64_t v = 0;

	assert_int_equal(devbus_mmio(bus, gpa, size, false, d), 0);
	memcpy(&v, d, size);
	return v;
}

static void test_mmio_sequence(void **state)
{
	struct devbus *a = std_bus(), *b = std_bus();
	static const unsigned sizes[] = {4, 8, 1, 2, 4, 4, 8, 1};
	uint8_t d[8];

	(void)state;
	/* The documented generator, not just self-consistency. */
	{
		uint64_t x = 0x9e3779b97f4a7c15ull ^ 5;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		assert_int_equal(devbus_mmio_test_value(5), x);
	}
	for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint64_t mask = sizes[i] == 8 ? UINT64_MAX : (1ull << (8 * sizes[i])) - 1;
		uint64_t va = mmio_read(a, DEVBUS_MMIO_TEST_BASE + 8 * i, sizes[i]);
		uint64_t vb = mmio_read(b, DEVBUS_MMIO_TEST_BASE + 0x100, sizes[i]);

		assert_int_equal(va, devbus_mmio_test_value(i) & mask);
		assert_int_equal(va, vb); /* any address: only the read count matters */
	}
	assert_int_equal(devbus_mmio_test_reads(a), 8);
	/* Writes to the sequence half are stored for the host and do not change reads. */
	memcpy(d, "\x78\x56\x34\x12", 4);
	assert_int_equal(devbus_mmio(a, DEVBUS_MMIO_TEST_BASE + 0x10, 4, true, d), 0);
	assert_int_equal(devbus_mmio_test_stored(a, 0x10), 0x78);
	assert_int_equal(devbus_mmio_test_stored(a, 0x13), 0x12);
	assert_int_equal(mmio_read(a, DEVBUS_MMIO_TEST_BASE + 0x10, 4),
	                 devbus_mmio_test_value(8) & 0xffffffff);
	/* The storage half reads back what was written, without advancing the sequence. */
	memcpy(d, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	assert_int_equal(devbus_mmio(a, DEVBUS_MMIO_TEST_BASE + 0x800, 8, true, d), 0);
	assert_int_equal(mmio_read(a, DEVBUS_MMIO_TEST_BASE + 0x804, 2), 0x0605);
	assert_int_equal(devbus_mmio_test_reads(a), 9);
	/* Outside the region: absent. */
	assert_false(devbus_claims_mmio(a, DEVBUS_MMIO_TEST_BASE + DEVBUS_MMIO_TEST_SIZE));
	assert_true(devbus_claims_mmio(a, DEVBUS_MMIO_TEST_BASE + DEVBUS_MMIO_TEST_SIZE - 1));
	/* An 8-byte read straddling the end: 4 bytes from the region, 4 absent. */
	assert_int_equal(devbus_mmio(a, DEVBUS_MMIO_TEST_BASE + DEVBUS_MMIO_TEST_SIZE - 4, 8, false, d), 0);
	assert_int_equal(d[7], 0xff);
	assert_int_equal(d[0], 0);
	devbus_free(a);
	devbus_free(b);
}

struct timer {
	struct devbus_ops ops;
	uint64_t period;
	uint64_t fired[8];
	int nfired;
	uint32_t reg;
};

static uint64_t timer_tick(void *opaque, uint64_t now)
{
	struct timer *t = opaque;

	if (t->nfired < 8)
		t->fired[t->nfired++] = now;
	return now + t->period;
}

static size_t timer_save(const void *opaque, uint8_t *buf, size_t cap)
{
	const struct timer *t = opaque;

	if (cap >= 4)
		memcpy(buf, &t->reg, 4);
	return 4;
}

static int timer_restore(void *opaque, const uint8_t *buf, size_t len)
{
	struct timer *t = opaque;

	if (len != 4)
		return -EINVAL;
	memcpy(&t->reg, buf, 4);
	return 0;
}

static void timer_write(void *opaque, enum devbus_space sp, uint64_t addr, unsigned size, uint64_t val)
{
	(void)sp;
	(void)addr;
	(void)size;
	((struct timer *)opaque)->reg = (uint32_t)val;
}

static void test_clock_ticks(void **state)
{
	struct devbus *bus = devbus_new();
	struct timer t = {.ops = {.name = "timer", .tick = timer_tick}, .period = 10};
	struct devbus_dev *dev;

	(void)state;
	assert_int_equal(devbus_add(bus, &t.ops, &t, &dev), 0);
	assert_int_equal(devbus_add(bus, &t.ops, &t, NULL), -EEXIST);
	assert_int_equal(devbus_next_deadline(bus), DEVBUS_NEVER);
	devbus_set_deadline(bus, dev, 10);
	devbus_advance(bus, 9);
	assert_int_equal(t.nfired, 0);
	devbus_advance(bus, 26); /* now 35: fires at 10, 20, 30 */
	assert_int_equal(t.nfired, 3);
	assert_int_equal(t.fired[0], 10);
	assert_int_equal(t.fired[1], 20);
	assert_int_equal(t.fired[2], 30);
	assert_int_equal(devbus_now(bus), 35);
	assert_int_equal(devbus_next_deadline(bus), 40);
	devbus_free(bus);
}

static void test_save_restore(void **state)
{
	struct devbus *bus = std_bus();
	struct timer t = {.ops = {.name = "timer",
	                          .write = timer_write,
	                          .tick = timer_tick,
	                          .save = timer_save,
	                          .restore = timer_restore},
	                  .period = 5};
	struct devbus_dev *dev;
	uint8_t *cp, *cp2;
	size_t len, len2;
	int r;

	(void)state;
	assert_int_equal(devbus_add(bus, &t.ops, &t, &dev), 0);
	assert_int_equal(devbus_map_pio(bus, dev, 0x40, 4), 0);
	assert_int_equal(devbus_map_pio(bus, dev, 0x42, 4), -EEXIST);
	devbus_set_deadline(bus, dev, 7);
	outp(bus, 0x40, 4, 0xabcd);
	outp(bus, DEVBUS_PORT_COM1 + 7, 1, 0x11);
	outp(bus, DEVBUS_PORT_POST, 1, 0x33);
	mmio_read(bus, DEVBUS_MMIO_TEST_BASE, 4);
	devbus_irq_raise(bus, 3);
	assert_int_equal(devbus_save(bus, &cp, &len), 0);

	/* Change everything, then go back. */
	outp(bus, 0x40, 4, 0x1);
	outp(bus, DEVBUS_PORT_COM1 + 7, 1, 0x22);
	outp(bus, DEVBUS_PORT_POST, 1, 0x44);
	outp(bus, DEVBUS_PORT_DEBUG_EXIT, 1, 3);
	mmio_read(bus, DEVBUS_MMIO_TEST_BASE, 4);
	devbus_irq_lower(bus, 3);
	devbus_advance(bus, 100);
	assert_int_equal(devbus_restore(bus, cp, len), 0);
	assert_int_equal(t.reg, 0xabcd);
	assert_int_equal(inp(bus, DEVBUS_PORT_COM1 + 7, 1, &r), 0x11);
	assert_int_equal(devbus_post_code(bus), 0x33);
	assert_false(devbus_guest_exited(bus, NULL));
	assert_true(devbus_irq_level(bus, 3));
	assert_int_equal(devbus_now(bus), 0);
	assert_int_equal(devbus_next_deadline(bus), 7);
	assert_int_equal(devbus_mmio_test_reads(bus), 1);
	assert_int_equal(mmio_read(bus, DEVBUS_MMIO_TEST_BASE, 4), devbus_mmio_test_value(1) & 0xffffffff);

	/* Saving twice gives the same bytes: checkpoints can be compared. */
	assert_int_equal(devbus_restore(bus, cp, len), 0);
	assert_int_equal(devbus_save(bus, &cp2, &len2), 0);
	assert_int_equal(len, len2);
	assert_memory_equal(cp, cp2, len);
	free(cp2);

	/* Malformed checkpoints are refused and change nothing. */
	outp(bus, 0x40, 4, 0x77);
	assert_int_equal(devbus_restore(bus, cp, len - 1), -EINVAL);
	assert_int_equal(devbus_restore(bus, cp, 10), -EINVAL);
	cp[0] ^= 1;
	assert_int_equal(devbus_restore(bus, cp, len), -EINVAL);
	cp[0] ^= 1;
	assert_int_equal(t.reg, 0x77);
	free(cp);

	/* A checkpoint of another bus (devices differ) is refused. */
	{
		struct devbus *other = std_bus();

		assert_int_equal(devbus_save(other, &cp, &len), 0);
		assert_int_equal(devbus_restore(bus, cp, len), -EINVAL);
		assert_int_equal(t.reg, 0x77);
		free(cp);
		devbus_free(other);
	}
	devbus_free(bus);
}

struct fake_ram {
	uint8_t b[64];
	int writes;
};

static int fake_read(void *opaque, uint64_t gpa, void *buf, size_t len)
{
	struct fake_ram *r = opaque;

	if (gpa > sizeof(r->b) || sizeof(r->b) - gpa < len)
		return -EFAULT;
	memcpy(buf, r->b + gpa, len);
	return 0;
}

static int fake_write(void *opaque, uint64_t gpa, const void *buf, size_t len)
{
	struct fake_ram *r = opaque;

	if (gpa > sizeof(r->b) || sizeof(r->b) - gpa < len)
		return -EFAULT;
	memcpy(r->b + gpa, buf, len);
	r->writes++;
	return 0;
}

static void test_dma_hook(void **state)
{
	static const struct devbus_mem_ops ops = {fake_read, fake_write};
	struct devbus *bus = devbus_new();
	struct fake_ram ram = {{0}, 0};
	uint8_t buf[4];

	(void)state;
	assert_int_equal(devbus_dma_read(bus, 0, buf, 4), -ENODEV);
	devbus_set_memory(bus, &ops, &ram);
	assert_int_equal(devbus_dma_write(bus, 8, "wxyz", 4), 0);
	assert_int_equal(ram.writes, 1);
	assert_int_equal(devbus_dma_read(bus, 9, buf, 3), 0);
	assert_memory_equal(buf, "xyz", 3);
	assert_int_equal(devbus_dma_write(bus, 62, "abcd", 4), -EFAULT);
	devbus_free(bus);
}

/* Arbitrary guest traffic over every port and a spread of MMIO must not crash the bus. */
static void test_guest_garbage(void **state)
{
	struct devbus *bus = std_bus();
	uint64_t x = 12345;
	uint8_t d[16];

	(void)state;
	for (int i = 0; i < 200000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(d, &x, 8);
		memcpy(d + 8, &x, 8);
		if (i & 1)
			devbus_pio(bus, (uint16_t)(x >> 20), 1u << ((x >> 8) % 3), (x >> 40) & 1, d,
			           1 + (x >> 50) % 4);
		else
			devbus_mmio(bus, DEVBUS_MMIO_TEST_BASE - 8 + (x >> 24) % (DEVBUS_MMIO_TEST_SIZE + 16),
			            1 + (x >> 8) % 8, (x >> 40) & 1, d);
	}
	devbus_free(bus);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_uart_output),         cmocka_unit_test(test_uart_divisor_latch),
	    cmocka_unit_test(test_uart_receive),        cmocka_unit_test(test_uart_thre_interrupt),
	    cmocka_unit_test(test_debug_exit_and_post), cmocka_unit_test(test_unknown_port_all_ones),
	    cmocka_unit_test(test_mmio_sequence),       cmocka_unit_test(test_clock_ticks),
	    cmocka_unit_test(test_save_restore),        cmocka_unit_test(test_dma_hook),
	    cmocka_unit_test(test_guest_garbage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
