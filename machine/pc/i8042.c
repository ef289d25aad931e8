/* i8042 keyboard controller at 0x60 (data) and 0x64 (status/command) with a
 * PS/2 keyboard and mouse that answer their commands at once (no key is ever
 * pressed). The output port carries the A20 gate (bit 1) and the reset line
 * (bit 0, active low). Output bytes wait in one queue per source; the
 * controller's own replies go first, then the keyboard's, then the mouse's,
 * as long as the command byte does not disable that interface. IRQ 1 / 12 are
 * high while a byte from that source sits in the output buffer and the
 * command byte enables its interrupt. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pc_private.h"

#define ST_OBF    0x01
#define ST_SYS    0x04
#define ST_CMD    0x08
#define ST_UNLOCK 0x10
#define ST_AUXOBF 0x20

#define CB_KBDINT 0x01
#define CB_AUXINT 0x02
#define CB_SYS    0x04
#define CB_KBDDIS 0x10
#define CB_AUXDIS 0x20

#define OUT_RESET 0x01 /* low: reset */
#define OUT_A20   0x02

#define QLEN 16

enum { SRC_CTRL, SRC_KBD, SRC_AUX, NSRC };

struct i8042_regs {
	uint8_t q[NSRC][QLEN];
	uint8_t qhead[NSRC], qcount[NSRC];
	uint8_t ram[32]; /* ram[0] is the command byte */
	uint8_t status;
	uint8_t outport;
	uint8_t obuf;        /* the byte in the output buffer (also after it was read) */
	uint8_t obuf_src;    /* its source while OBF is set */
	uint8_t pending_cmd; /* controller command waiting for its data byte, 0: none */
	uint8_t kbd_pending; /* keyboard command waiting for its parameter, 0: none */
	uint8_t aux_pending;
	uint8_t kbd_scanset;
	uint8_t kbd_enabled;
	uint8_t aux_enabled;
	uint8_t aux_rate, aux_res, aux_scaling, aux_wrap;
	uint8_t irq1, irq12;
	uint8_t reset_requested;
	uint8_t pad[5];
};

struct i8042 {
	struct i8042_regs r;
	struct devbus *bus;
};

static void q_put(struct i8042 *k, int src, uint8_t v)
{
	struct i8042_regs *r = &k->r;
	if (r->qcount[src] == QLEN)
		return; /* the device's buffer overflows: the byte is lost */
	r->q[src][(r->qhead[src] + r->qcount[src]) % QLEN] = v;
	r->qcount[src]++;
}

static uint8_t q_get(struct i8042 *k, int src)
{
	struct i8042_regs *r = &k->r;
	uint8_t v = r->q[src][r->qhead[src]];
	r->qhead[src] = (uint8_t)((r->qhead[src] + 1) % QLEN);
	r->qcount[src]--;
	return v;
}

static void i8042_update(struct i8042 *k)
{
	struct i8042_regs *r = &k->r;
	uint8_t cb = r->ram[0];
	if (!(r->status & ST_OBF)) {
		int src = -1;
		if (r->qcount[SRC_CTRL])
			src = SRC_CTRL;
		else if (r->qcount[SRC_KBD] && !(cb & CB_KBDDIS))
			src = SRC_KBD;
		else if (r->qcount[SRC_AUX] && !(cb & CB_AUXDIS))
			src = SRC_AUX;
		if (src >= 0) {
			r->obuf = q_get(k, src);
			r->obuf_src = (uint8_t)src;
			r->status |= ST_OBF;
			if (src == SRC_AUX)
				r->status |= ST_AUXOBF;
			else
				r->status &= (uint8_t)~ST_AUXOBF;
		}
	}
	bool obf = r->status & ST_OBF, aux = r->status & ST_AUXOBF;
	uint8_t irq1 = obf && !aux && (cb & CB_KBDINT), irq12 = obf && aux && (cb & CB_AUXINT);
	if (irq1 != r->irq1) {
		r->irq1 = irq1;
		devbus_irq_set(k->bus, 1, irq1);
	}
	if (irq12 != r->irq12) {
		r->irq12 = irq12;
		devbus_irq_set(k->bus, 12, irq12);
	}
}

static void i8042_set_outport(struct i8042 *k, uint8_t v)
{
	k->r.outport = v;
	if (!(v & OUT_RESET))
		k->r.reset_requested = 1;
}

static void kbd_command(struct i8042 *k, uint8_t v)
{
	struct i8042_regs *r = &k->r;
	uint8_t pending = r->kbd_pending;
	r->kbd_pending = 0;
	if (pending == 0xed) { /* LEDs */
		q_put(k, SRC_KBD, 0xfa);
		return;
	}
	if (pending == 0xf3) { /* typematic rate */
		q_put(k, SRC_KBD, 0xfa);
		return;
	}
	if (pending == 0xf0) { /* scan code set: 0 asks for the current one */
		q_put(k, SRC_KBD, 0xfa);
		if (v == 0)
			q_put(k, SRC_KBD, r->kbd_scanset);
		else if (v <= 3)
			r->kbd_scanset = v;
		return;
	}
	switch (v) {
	case 0xed:
	case 0xf3:
	case 0xf0:
		r->kbd_pending = v;
		q_put(k, SRC_KBD, 0xfa);
		break;
	case 0xee: /* echo */
		q_put(k, SRC_KBD, 0xee);
		break;
	case 0xf2: /* identify: MF2 keyboard */
		q_put(k, SRC_KBD, 0xfa);
		q_put(k, SRC_KBD, 0xab);
		q_put(k, SRC_KBD, 0x83);
		break;
	case 0xf4:
		r->kbd_enabled = 1;
		q_put(k, SRC_KBD, 0xfa);
		break;
	case 0xf5: /* disable and restore defaults */
		r->kbd_enabled = 0;
		r->kbd_scanset = 2;
		q_put(k, SRC_KBD, 0xfa);
		break;
	case 0xf6:
		r->kbd_scanset = 2;
		q_put(k, SRC_KBD, 0xfa);
		break;
	case 0xff: /* reset: acknowledge, then the self-test passed */
		r->kbd_enabled = 1;
		r->kbd_scanset = 2;
		q_put(k, SRC_KBD, 0xfa);
		q_put(k, SRC_KBD, 0xaa);
		break;
	default: /* F7-FD (set 3 only) and unknown bytes: resend */
		if (v >= 0xf7 && v <= 0xfd)
			q_put(k, SRC_KBD, 0xfa);
		else
			q_put(k, SRC_KBD, 0xfe);
		break;
	}
}

static void aux_command(struct i8042 *k, uint8_t v)
{
	struct i8042_regs *r = &k->r;
	uint8_t pending = r->aux_pending;
	r->aux_pending = 0;
	if (pending) {
		if (pending == 0xf3)
			r->aux_rate = v;
		else if (pending == 0xe8)
			r->aux_res = v & 3;
		q_put(k, SRC_AUX, 0xfa);
		return;
	}
	if (r->aux_wrap && v != 0xec && v != 0xff) {
		q_put(k, SRC_AUX, v);
		return;
	}
	switch (v) {
	case 0xe6:
	case 0xe7:
		r->aux_scaling = v == 0xe7;
		q_put(k, SRC_AUX, 0xfa);
		break;
	case 0xe8:
	case 0xf3:
		r->aux_pending = v;
		q_put(k, SRC_AUX, 0xfa);
		break;
	case 0xe9: /* status request */
		q_put(k, SRC_AUX, 0xfa);
		q_put(k, SRC_AUX, (uint8_t)((r->aux_enabled << 5) | (r->aux_scaling << 4)));
		q_put(k, SRC_AUX, r->aux_res);
		q_put(k, SRC_AUX, r->aux_rate);
		break;
	case 0xea:
	case 0xf0:
		q_put(k, SRC_AUX, 0xfa);
		break;
	case 0xec:
	case 0xee:
		r->aux_wrap = v == 0xee;
		q_put(k, SRC_AUX, 0xfa);
		break;
	case 0xeb: /* read data: no movement */
		q_put(k, SRC_AUX, 0xfa);
		q_put(k, SRC_AUX, 0x08);
		q_put(k, SRC_AUX, 0x00);
		q_put(k, SRC_AUX, 0x00);
		break;
	case 0xf2:
		q_put(k, SRC_AUX, 0xfa);
		q_put(k, SRC_AUX, 0x00);
		break;
	case 0xf4:
	case 0xf5:
		r->aux_enabled = v == 0xf4;
		q_put(k, SRC_AUX, 0xfa);
		break;
	case 0xf6:
		r->aux_rate = 100;
		r->aux_res = 2;
		r->aux_scaling = 0;
		q_put(k, SRC_AUX, 0xfa);
		break;
	case 0xff:
		r->aux_enabled = 0;
		r->aux_wrap = 0;
		r->aux_rate = 100;
		r->aux_res = 2;
		r->aux_scaling = 0;
		q_put(k, SRC_AUX, 0xfa);
		q_put(k, SRC_AUX, 0xaa);
		q_put(k, SRC_AUX, 0x00);
		break;
	default:
		q_put(k, SRC_AUX, 0xfe);
		break;
	}
}

static void ctrl_command(struct i8042 *k, uint8_t v)
{
	struct i8042_regs *r = &k->r;
	if (v >= 0x20 && v <= 0x3f) {
		q_put(k, SRC_CTRL, r->ram[v & 0x1f]);
		return;
	}
	if ((v >= 0x60 && v <= 0x7f) || v == 0xd1 || v == 0xd2 || v == 0xd3 || v == 0xd4) {
		r->pending_cmd = v;
		return;
	}
	if (v >= 0xf0) { /* pulse output lines low: bit 0 is the reset line */
		if (!(v & 1))
			r->reset_requested = 1;
		return;
	}
	switch (v) {
	case 0xa7:
		r->ram[0] |= CB_AUXDIS;
		break;
	case 0xa8:
		r->ram[0] &= (uint8_t)~CB_AUXDIS;
		break;
	case 0xa9: /* aux interface test: OK */
	case 0xab: /* keyboard interface test: OK */
		q_put(k, SRC_CTRL, 0x00);
		break;
	case 0xaa: /* self-test */
		r->status |= ST_SYS;
		q_put(k, SRC_CTRL, 0x55);
		break;
	case 0xad:
		r->ram[0] |= CB_KBDDIS;
		break;
	case 0xae:
		r->ram[0] &= (uint8_t)~CB_KBDDIS;
		break;
	case 0xc0: /* input port: keyboard not inhibited */
		q_put(k, SRC_CTRL, 0x80);
		break;
	case 0xd0:
		q_put(k, SRC_CTRL, r->outport);
		break;
	case 0xdd:
		r->outport &= (uint8_t)~OUT_A20;
		break;
	case 0xdf:
		r->outport |= OUT_A20;
		break;
	case 0xe0: /* test inputs */
		q_put(k, SRC_CTRL, 0x00);
		break;
	default: /* undefined commands are ignored */
		break;
	}
}

static void data_write(struct i8042 *k, uint8_t v)
{
	struct i8042_regs *r = &k->r;
	uint8_t cmd = r->pending_cmd;
	r->pending_cmd = 0;
	if (cmd >= 0x60 && cmd <= 0x7f) {
		r->ram[cmd & 0x1f] = v;
		if (cmd == 0x60)
			r->status = (uint8_t)((r->status & ~ST_SYS) | (v & CB_SYS));
		return;
	}
	switch (cmd) {
	case 0xd1:
		i8042_set_outport(k, v);
		break;
	case 0xd2:
		q_put(k, SRC_KBD, v);
		break;
	case 0xd3:
		q_put(k, SRC_AUX, v);
		break;
	case 0xd4:
		aux_command(k, v);
		break;
	default:
		/* Sending to the keyboard enables its interface again. */
		r->ram[0] &= (uint8_t)~CB_KBDDIS;
		kbd_command(k, v);
		break;
	}
}

static uint64_t i8042_read(void *opaque, enum devbus_space space, uint64_t addr, unsigned size)
{
	struct i8042 *k = opaque;
	(void)space;
	(void)size;
	if (addr == 0x64)
		return k->r.status;
	uint8_t v = k->r.obuf;
	k->r.status &= (uint8_t) ~(ST_OBF | ST_AUXOBF);
	i8042_update(k);
	return v;
}

static void i8042_write(void *opaque, enum devbus_space space, uint64_t addr, unsigned size, uint64_t val)
{
	struct i8042 *k = opaque;
	(void)space;
	(void)size;
	if (addr == 0x64) {
		k->r.status |= ST_CMD;
		k->r.pending_cmd = 0;
		ctrl_command(k, (uint8_t)val);
	} else {
		k->r.status &= (uint8_t)~ST_CMD;
		data_write(k, (uint8_t)val);
	}
	i8042_update(k);
}

static size_t i8042_save(const void *opaque, uint8_t *buf, size_t cap)
{
	const struct i8042 *k = opaque;
	if (cap >= sizeof(k->r))
		memcpy(buf, &k->r, sizeof(k->r));
	return sizeof(k->r);
}

static int i8042_restore(void *opaque, const uint8_t *buf, size_t len)
{
	struct i8042 *k = opaque;
	struct i8042_regs r;
	if (len != sizeof(r))
		return -EINVAL;
	memcpy(&r, buf, sizeof(r));
	for (int i = 0; i < NSRC; i++)
		if (r.qhead[i] >= QLEN || r.qcount[i] > QLEN)
			return -EINVAL;
	if (r.obuf_src >= NSRC || r.irq1 > 1 || r.irq12 > 1 || r.reset_requested > 1)
		return -EINVAL;
	k->r = r;
	return 0;
}

static const struct devbus_ops i8042_ops = {
    .name = PC_DEV_I8042,
    .read = i8042_read,
    .write = i8042_write,
    .save = i8042_save,
    .restore = i8042_restore,
    .free = free,
};

int pc_i8042_add(struct devbus *bus)
{
	struct i8042 *k = calloc(1, sizeof(*k));
	struct devbus_dev *dev;
	int err;

	if (!k)
		return -ENOMEM;
	k->bus = bus;
	k->r.ram[0] = CB_KBDINT | CB_AUXINT;
	k->r.status = ST_CMD | ST_UNLOCK;
	k->r.outport = 0xcc | OUT_A20 | OUT_RESET;
	k->r.kbd_scanset = 2;
	k->r.kbd_enabled = 1;
	k->r.aux_rate = 100;
	k->r.aux_res = 2;
	if ((err = devbus_add(bus, &i8042_ops, k, &dev)))
		return err;
	if ((err = devbus_map_pio(bus, dev, 0x60, 1)) || (err = devbus_map_pio(bus, dev, 0x64, 1)))
		return err;
	return 0;
}

bool pc_i8042_a20(const struct devbus *bus, bool *present)
{
	const struct i8042 *k = devbus_find(bus, PC_DEV_I8042);
	*present = k != NULL;
	return k && (k->r.outport & OUT_A20);
}

bool pc_i8042_reset(const struct devbus *bus)
{
	const struct i8042 *k = devbus_find(bus, PC_DEV_I8042);
	return k && k->r.reset_requested;
}
