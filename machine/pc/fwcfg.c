/* QEMU firmware configuration device, port I/O interface only: selector at
 * 0x510 (16-bit write), data at 0x511 (byte reads, the offset advances). The
 * ID says "traditional interface, no DMA", so the DMA ports stay absent. Items
 * are fixed at creation from the machine configuration; only the selector and
 * the offset are state. Unknown selectors and reads past an item read 0;
 * data writes are ignored, as in QEMU since 2.4. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../pc.h"

#define FW_CFG_SIGNATURE  0x0000
#define FW_CFG_ID         0x0001
#define FW_CFG_RAM_SIZE   0x0003
#define FW_CFG_NOGRAPHIC  0x0004
#define FW_CFG_NB_CPUS    0x0005
#define FW_CFG_BOOT_DEV   0x000c
#define FW_CFG_BOOT_MENU  0x000e
#define FW_CFG_MAX_CPUS   0x000f
#define FW_CFG_FILE_DIR   0x0019
#define FW_CFG_FILE_FIRST 0x0020
#define FW_CFG_WRITE      0x4000
#define FW_CFG_MAX_ITEMS  24

struct fwcfg_item {
	uint16_t key;
	uint32_t len;
	uint8_t *data;
	char name[56]; /* files only */
};

struct fwcfg_regs {
	uint32_t offset;
	uint16_t selector;
	uint16_t pad;
};

struct fwcfg {
	struct fwcfg_regs r;
	struct fwcfg_item items[FW_CFG_MAX_ITEMS];
	unsigned nitems;
};

static const struct fwcfg_item *fwcfg_find(const struct fwcfg *f, uint16_t key)
{
	for (unsigned i = 0; i < f->nitems; i++)
		if (f->items[i].key == key)
			return &f->items[i];
	return NULL;
}

static int fwcfg_put(struct fwcfg *f, uint16_t key, const char *name, const void *data, uint32_t len)
{
	if (f->nitems == FW_CFG_MAX_ITEMS)
		return -E2BIG;
	struct fwcfg_item *it = &f->items[f->nitems];
	it->data = malloc(len ? len : 1);
	if (!it->data)
		return -ENOMEM;
	memcpy(it->data, data, len);
	it->len = len;
	it->key = key;
	snprintf(it->name, sizeof(it->name), "%s", name ? name : "");
	f->nitems++;
	return 0;
}

static int fwcfg_put_le(struct fwcfg *f, uint16_t key, const char *name, uint64_t v, unsigned bytes)
{
	uint8_t b[8];
	for (unsigned i = 0; i < bytes; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	return fwcfg_put(f, key, name, b, bytes);
}

static void put_be(uint8_t *p, uint64_t v, unsigned bytes)
{
	for (unsigned i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
}

static uint64_t fwcfg_read(void *opaque, enum devbus_space space, uint64_t addr, unsigned size)
{
	struct fwcfg *f = opaque;
	(void)space;
	if (addr != PC_FWCFG_PORT + 1)
		return 0;
	/* A wider read returns consecutive bytes, lowest first. */
	uint64_t v = 0;
	const struct fwcfg_item *it = fwcfg_find(f, f->r.selector & (uint16_t)~FW_CFG_WRITE);
	for (unsigned i = 0; i < size; i++) {
		uint8_t b = 0;
		if (it && f->r.offset < it->len)
			b = it->data[f->r.offset++];
		v |= (uint64_t)b << (8 * i);
	}
	return v;
}

static void fwcfg_write(void *opaque, enum devbus_space space, uint64_t addr, unsigned size, uint64_t val)
{
	struct fwcfg *f = opaque;
	(void)space;
	(void)size;
	if (addr == PC_FWCFG_PORT) {
		f->r.selector = (uint16_t)val;
		f->r.offset = 0;
	}
}

static size_t fwcfg_save(const void *opaque, uint8_t *buf, size_t cap)
{
	const struct fwcfg *f = opaque;
	if (cap >= sizeof(f->r))
		memcpy(buf, &f->r, sizeof(f->r));
	return sizeof(f->r);
}

static int fwcfg_restore(void *opaque, const uint8_t *buf, size_t len)
{
	struct fwcfg *f = opaque;
	struct fwcfg_regs r;
	if (len != sizeof(r))
		return -EINVAL;
	memcpy(&r, buf, sizeof(r));
	if (r.pad)
		return -EINVAL;
	f->r = r;
	return 0;
}

static void fwcfg_free(void *opaque)
{
	struct fwcfg *f = opaque;
	for (unsigned i = 0; i < f->nitems; i++)
		free(f->items[i].data);
	free(f);
}

static const struct devbus_ops fwcfg_ops = {
    .name = PC_DEV_FWCFG,
    .read = fwcfg_read,
    .write = fwcfg_write,
    .save = fwcfg_save,
    .restore = fwcfg_restore,
    .free = fwcfg_free,
};

/* Files, sorted by name as QEMU lists them. */
static int fwcfg_add_files(struct fwcfg *f, const struct pc_config *cfg)
{
	uint8_t e820[20];
	uint16_t key = FW_CFG_FILE_FIRST;
	int err = 0;

	if (cfg->disk_path) {
		/* SeaBIOS's name for the PIIX3 IDE primary master. */
		static const char path[] = "/pci@i0cf8/ide@1,1/drive@0/disk@0\n";
		err = fwcfg_put(f, key++, "bootorder", path, sizeof(path));
	}
	/* No retry after "No bootable device": the firmware waits for interrupts forever. */
	if (!err)
		err = fwcfg_put_le(f, key++, "etc/boot-fail-wait", 0xffffffffu, 4);
	uint64_t ram = cfg->ram_bytes > 0xc0000000ull ? 0xc0000000ull : cfg->ram_bytes;
	for (unsigned i = 0; i < 8; i++) {
		e820[i] = 0;
		e820[8 + i] = (uint8_t)(ram >> (8 * i));
	}
	e820[16] = 1; /* E820_RAM */
	e820[17] = e820[18] = e820[19] = 0;
	if (!err)
		err = fwcfg_put(f, key++, "etc/e820", e820, sizeof(e820));
	if (!err && cfg->sercon)
		err = fwcfg_put_le(f, key++, "etc/sercon-port", DEVBUS_PORT_COM1, 2);
	if (!err)
		err = fwcfg_put_le(f, key++, "etc/show-boot-menu", 0, 2);
	if (err)
		return err;

	/* The directory: count, then {size, select, reserved, name[56]}, big-endian. */
	unsigned nfiles = key - FW_CFG_FILE_FIRST;
	size_t len = 4 + (size_t)nfiles * 64;
	uint8_t *dir = calloc(1, len);
	if (!dir)
		return -ENOMEM;
	put_be(dir, nfiles, 4);
	for (unsigned i = 0; i < nfiles; i++) {
		const struct fwcfg_item *it = fwcfg_find(f, (uint16_t)(FW_CFG_FILE_FIRST + i));
		uint8_t *e = dir + 4 + 64 * i;
		put_be(e, it->len, 4);
		put_be(e + 4, it->key, 2);
		memcpy(e + 8, it->name, sizeof(it->name));
	}
	err = fwcfg_put(f, FW_CFG_FILE_DIR, NULL, dir, (uint32_t)len);
	free(dir);
	return err;
}

int pc_fwcfg_add(struct devbus *bus, const struct pc_config *cfg)
{
	struct fwcfg *f = calloc(1, sizeof(*f));
	struct devbus_dev *dev;
	int err;

	if (!f)
		return -ENOMEM;
	uint64_t ram = cfg->ram_bytes > 0xc0000000ull ? 0xc0000000ull : cfg->ram_bytes;
	if ((err = fwcfg_put(f, FW_CFG_SIGNATURE, NULL, "QEMU", 4)) ||
	    (err = fwcfg_put_le(f, FW_CFG_ID, NULL, 1, 4)) ||
	    (err = fwcfg_put_le(f, FW_CFG_RAM_SIZE, NULL, ram, 8)) ||
	    (err = fwcfg_put_le(f, FW_CFG_NOGRAPHIC, NULL, cfg->sercon, 2)) ||
	    (err = fwcfg_put_le(f, FW_CFG_NB_CPUS, NULL, 1, 2)) ||
	    (err = fwcfg_put_le(f, FW_CFG_MAX_CPUS, NULL, 1, 2)) ||
	    (err = fwcfg_put_le(f, FW_CFG_BOOT_DEV, NULL, 'c', 2)) ||
	    (err = fwcfg_put_le(f, FW_CFG_BOOT_MENU, NULL, 0, 2)) || (err = fwcfg_add_files(f, cfg))) {
		fwcfg_free(f);
		return err;
	}
	if ((err = devbus_add(bus, &fwcfg_ops, f, &dev)))
		return err;
	return devbus_map_pio(bus, dev, PC_FWCFG_PORT, 2);
}
