/* ATA (IDE) controller, compatibility mode: primary channel 0x1f0-0x1f7 +
 * 0x3f6 on IRQ 14, secondary 0x170-0x177 + 0x376 on IRQ 15. One disk, the
 * primary master, backed by a raw image file read with pread (the file is
 * never written: write commands are aborted, as a write-protected medium).
 * PIO only: IDENTIFY, READ SECTORS (28/48-bit, single and multiple), READ
 * VERIFY, SET MULTIPLE, SET FEATURES, INITIALIZE DEVICE PARAMETERS, CHECK
 * POWER MODE, FLUSH, EXECUTE DIAGNOSTIC, READ NATIVE MAX; anything else
 * aborts (ERR, ABRT). IDENTIFY PACKET aborts: this is not an ATAPI device.
 * Absent devices: on a channel without any device every register reads 0
 * (the pull-down on DD7 keeps BSY clear); an absent device 1 beside a present
 * device 0 reads 0 in status and alternate status and the shared registers
 * elsewhere (ATA-4). The disk contents are not in a checkpoint; the image's
 * hash is in the trace. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../pc.h"

#define ST_ERR  0x01
#define ST_DRQ  0x08
#define ST_DSC  0x10
#define ST_DRDY 0x40
#define ST_BSY  0x80

#define ERR_ABRT 0x04
#define ERR_IDNF 0x10
#define ERR_UNC  0x40

#define CTL_NIEN 0x02
#define CTL_SRST 0x04
#define CTL_HOB  0x80

#define SEL_DEV 0x10
#define SEL_LBA 0x40

enum { XFER_NONE, XFER_READ, XFER_PIO_OUT_DATA };

struct ata_chan {
	uint8_t buf[512];
	uint64_t lba;       /* sector in buf (reads), next to load */
	uint32_t remaining; /* sectors still to transfer, the one in buf included */
	uint16_t pos;       /* next byte of buf the host reads */
	uint16_t end;       /* bytes of buf the host may read (0: no DRQ data) */
	uint8_t feature, nsector, sector, lcyl, hcyl;
	uint8_t hob_feature, hob_nsector, hob_sector, hob_lcyl, hob_hcyl;
	uint8_t select, status, error, ctl, cmd;
	uint8_t irq_pending; /* INTRQ set by the device, cleared by a status read */
	uint8_t irq_level;   /* level driven on the IRQ line */
	uint8_t xfer;
	uint8_t block;              /* sectors per DRQ block of the running command */
	uint8_t block_left;         /* sectors left in this block, the one in buf included */
	uint8_t mult;               /* SET MULTIPLE count, 0: multiple commands abort */
	uint8_t cur_heads, cur_spt; /* logical geometry (INITIALIZE DEVICE PARAMETERS) */
	uint8_t pad[9];
};

struct ata_regs {
	struct ata_chan ch[2];
};

struct ata {
	struct ata_regs r;
	struct devbus *bus;
	int fd;
	uint64_t sectors;
	uint16_t cyls, heads, spt;
};

static const uint16_t ata_base[2] = {0x1f0, 0x170}, ata_ctl[2] = {0x3f6, 0x376};
static const unsigned ata_irq[2] = {14, 15};

static bool ata_present(const struct ata *a, int c, unsigned dev)
{
	return c == 0 && dev == 0 && a->fd >= 0;
}

static bool ata_chan_has_dev(const struct ata *a, int c)
{
	return ata_present(a, c, 0) || ata_present(a, c, 1);
}

static unsigned ata_cur_dev(const struct ata_chan *ch)
{
	return (ch->select & SEL_DEV) ? 1 : 0;
}

static void ata_update_irq(struct ata *a, int c)
{
	struct ata_chan *ch = &a->r.ch[c];
	uint8_t level = ch->irq_pending && !(ch->ctl & CTL_NIEN);
	if (level != ch->irq_level) {
		ch->irq_level = level;
		devbus_irq_set(a->bus, ata_irq[c], level);
	}
}

static void ata_raise(struct ata *a, int c)
{
	a->r.ch[c].irq_pending = 1;
	ata_update_irq(a, c);
}

static void ata_signature(struct ata_chan *ch)
{
	ch->nsector = 1;
	ch->sector = 1;
	ch->lcyl = 0;
	ch->hcyl = 0;
	ch->select = 0xa0;
}

static void ata_abort(struct ata *a, int c)
{
	struct ata_chan *ch = &a->r.ch[c];
	ch->xfer = XFER_NONE;
	ch->end = ch->pos = 0;
	ch->error = ERR_ABRT;
	ch->status = ST_DRDY | ST_DSC | ST_ERR;
	ata_raise(a, c);
}

static void ata_done(struct ata *a, int c)
{
	struct ata_chan *ch = &a->r.ch[c];
	ch->xfer = XFER_NONE;
	ch->end = ch->pos = 0;
	ch->error = 0;
	ch->status = ST_DRDY | ST_DSC;
	ata_raise(a, c);
}

static void put_str(uint16_t *w, const char *s, unsigned words)
{
	/* ATA strings: two characters per word, the first in the high byte, space padded. */
	for (unsigned i = 0; i < words; i++) {
		char c0 = *s ? *s++ : ' ';
		char c1 = *s ? *s++ : ' ';
		w[i] = (uint16_t)(((uint8_t)c0 << 8) | (uint8_t)c1);
	}
}

static void ata_identify(struct ata *a, struct ata_chan *ch)
{
	uint16_t w[256];
	uint64_t lba28 = a->sectors > 0x0fffffff ? 0x0fffffff : a->sectors;
	uint32_t cur_cap = (uint32_t)a->cyls * ch->cur_heads * ch->cur_spt;
	memset(w, 0, sizeof(w));
	w[0] = 0x0040; /* fixed device */
	w[1] = a->cyls;
	w[3] = a->heads;
	w[6] = a->spt;
	put_str(w + 10, "EMUDIFF-0001", 10);
	w[20] = 3;
	w[21] = 512;
	w[22] = 4;
	put_str(w + 23, "1.0", 4);
	put_str(w + 27, "EMUDIFF ATA DISK", 20);
	w[47] = 0x8010; /* READ/WRITE MULTIPLE: up to 16 sectors */
	w[49] = 0x0a00; /* LBA, IORDY; no DMA */
	w[51] = 0x0200;
	w[53] = 0x0003; /* words 54-58 and 64-70 valid */
	w[54] = a->cyls;
	w[55] = ch->cur_heads;
	w[56] = ch->cur_spt;
	w[57] = (uint16_t)cur_cap;
	w[58] = (uint16_t)(cur_cap >> 16);
	w[59] = ch->mult ? (uint16_t)(0x100 | ch->mult) : 0;
	w[60] = (uint16_t)lba28;
	w[61] = (uint16_t)(lba28 >> 16);
	w[64] = 0x0003; /* PIO modes 3 and 4 */
	w[65] = w[66] = w[67] = w[68] = 120;
	w[80] = 0x00f0; /* ATA/ATAPI-4 to -7 */
	w[82] = 0x4000;
	w[83] = 0x4400; /* 48-bit addressing */
	w[84] = 0x4000;
	w[85] = 0x4000;
	w[86] = 0x0400;
	w[87] = 0x4000;
	for (int i = 0; i < 4; i++)
		w[100 + i] = (uint16_t)(a->sectors >> (16 * i));
	for (int i = 0; i < 256; i++) {
		ch->buf[2 * i] = (uint8_t)w[i];
		ch->buf[2 * i + 1] = (uint8_t)(w[i] >> 8);
	}
}

/* Writes the address of the sector being transferred back into the registers. */
static void ata_set_address(struct ata_chan *ch, uint64_t lba, bool lba48)
{
	if (lba48) {
		ch->sector = (uint8_t)lba;
		ch->lcyl = (uint8_t)(lba >> 8);
		ch->hcyl = (uint8_t)(lba >> 16);
		ch->hob_sector = (uint8_t)(lba >> 24);
		ch->hob_lcyl = (uint8_t)(lba >> 32);
		ch->hob_hcyl = (uint8_t)(lba >> 40);
	} else if (ch->select & SEL_LBA) {
		ch->sector = (uint8_t)lba;
		ch->lcyl = (uint8_t)(lba >> 8);
		ch->hcyl = (uint8_t)(lba >> 16);
		ch->select = (uint8_t)((ch->select & 0xf0) | ((lba >> 24) & 0x0f));
	} else {
		uint32_t hs = (uint32_t)ch->cur_heads * ch->cur_spt;
		uint32_t cyl = (uint32_t)(lba / hs), rem = (uint32_t)(lba % hs);
		ch->hcyl = (uint8_t)(cyl >> 8);
		ch->lcyl = (uint8_t)cyl;
		ch->select = (uint8_t)((ch->select & 0xf0) | ((rem / ch->cur_spt) & 0x0f));
		ch->sector = (uint8_t)(rem % ch->cur_spt + 1);
	}
}

/* Loads the next sector and raises DRQ; false (after an error) when it cannot be read. */
static bool ata_load_sector(struct ata *a, int c)
{
	struct ata_chan *ch = &a->r.ch[c];
	memset(ch->buf, 0, sizeof(ch->buf));
	ssize_t n = pread(a->fd, ch->buf, sizeof(ch->buf), (off_t)(ch->lba * 512));
	if (n < 0) {
		ch->xfer = XFER_NONE;
		ch->end = ch->pos = 0;
		ch->error = ERR_UNC;
		ch->status = ST_DRDY | ST_DSC | ST_ERR;
		ata_raise(a, c);
		return false;
	}
	ata_set_address(ch, ch->lba, ch->cmd == 0x24 || ch->cmd == 0x29);
	ch->pos = 0;
	ch->end = 512;
	ch->status = ST_DRDY | ST_DSC | ST_DRQ;
	return true;
}

/* The 28- or 48-bit address and count of the command in the registers; false when out of range. */
static bool ata_range(const struct ata *a, const struct ata_chan *ch, bool lba48, uint64_t *lba,
                      uint32_t *count)
{
	if (lba48) {
		*lba = (uint64_t)ch->hob_hcyl << 40 | (uint64_t)ch->hob_lcyl << 32 |
		       (uint64_t)ch->hob_sector << 24 | (uint64_t)ch->hcyl << 16 | (uint64_t)ch->lcyl << 8 |
		       ch->sector;
		*count = (uint32_t)ch->hob_nsector << 8 | ch->nsector;
		if (!*count)
			*count = 65536;
	} else {
		*count = ch->nsector ? ch->nsector : 256;
		if (ch->select & SEL_LBA) {
			*lba = (uint64_t)(ch->select & 0x0f) << 24 | (uint64_t)ch->hcyl << 16 |
			       (uint64_t)ch->lcyl << 8 | ch->sector;
		} else {
			uint32_t cyl = (uint32_t)ch->hcyl << 8 | ch->lcyl, head = ch->select & 0x0f;
			if (!ch->sector || ch->sector > ch->cur_spt || head >= ch->cur_heads)
				return false;
			*lba = ((uint64_t)cyl * ch->cur_heads + head) * ch->cur_spt + ch->sector - 1;
		}
	}
	return *lba < a->sectors && *count <= a->sectors - *lba;
}

static void ata_command(struct ata *a, int c, uint8_t cmd)
{
	struct ata_chan *ch = &a->r.ch[c];
	bool lba48 = false;
	uint64_t lba;
	uint32_t count;

	if (!ata_present(a, c, ata_cur_dev(ch)))
		return; /* nobody listens */
	ch->cmd = cmd;
	ch->xfer = XFER_NONE;
	ch->end = ch->pos = 0;
	switch (cmd) {
	case 0xec: /* IDENTIFY DEVICE */
		ata_identify(a, ch);
		ch->error = 0;
		ch->pos = 0;
		ch->end = 512;
		ch->remaining = 1;
		ch->block = ch->block_left = 1;
		ch->xfer = XFER_READ;
		ch->status = ST_DRDY | ST_DSC | ST_DRQ;
		ata_raise(a, c);
		return;
	case 0x24: /* READ SECTORS EXT */
	case 0x29: /* READ MULTIPLE EXT */
		lba48 = true;
		/* fall through */
	case 0x20: /* READ SECTORS */
	case 0x21:
	case 0xc4: /* READ MULTIPLE */
		if ((cmd == 0xc4 || cmd == 0x29) && !ch->mult) {
			ata_abort(a, c);
			return;
		}
		if (!ata_range(a, ch, lba48, &lba, &count)) {
			ch->error = ERR_IDNF; /* out of range: IDNF alone (ATA-7 READ SECTORS) */
			ch->status = ST_DRDY | ST_DSC | ST_ERR;
			ata_raise(a, c);
			return;
		}
		ch->lba = lba;
		ch->remaining = count;
		ch->block = (cmd == 0xc4 || cmd == 0x29) ? ch->mult : 1;
		ch->block_left = (uint8_t)(count < ch->block ? count : ch->block);
		ch->error = 0;
		ch->xfer = XFER_READ;
		if (ata_load_sector(a, c))
			ata_raise(a, c);
		return;
	case 0x42: /* READ VERIFY EXT */
		lba48 = true;
		/* fall through */
	case 0x40: /* READ VERIFY */
	case 0x41:
		if (!ata_range(a, ch, lba48, &lba, &count)) {
			ch->error = ERR_IDNF; /* out of range: IDNF alone (ATA-7 READ SECTORS) */
			ch->status = ST_DRDY | ST_DSC | ST_ERR;
			ata_raise(a, c);
			return;
		}
		ata_done(a, c);
		return;
	case 0x91: /* INITIALIZE DEVICE PARAMETERS */
		if (!ch->nsector) {
			ata_abort(a, c);
			return;
		}
		ch->cur_spt = ch->nsector;
		ch->cur_heads = (uint8_t)((ch->select & 0x0f) + 1);
		ata_done(a, c);
		return;
	case 0xc6: /* SET MULTIPLE MODE */
		if (ch->nsector > 16 || (ch->nsector & (ch->nsector - 1))) {
			ata_abort(a, c);
			return;
		}
		ch->mult = ch->nsector;
		ata_done(a, c);
		return;
	case 0xe5: /* CHECK POWER MODE: active */
		ata_done(a, c);
		ch->nsector = 0xff;
		return;
	case 0xf8: /* READ NATIVE MAX ADDRESS */
	case 0x27: /* READ NATIVE MAX ADDRESS EXT */
		ata_set_address(ch, a->sectors - 1, cmd == 0x27);
		ata_done(a, c);
		return;
	case 0x90: /* EXECUTE DEVICE DIAGNOSTIC */
		ata_signature(ch);
		ch->status = ST_DRDY | ST_DSC;
		ch->error = 0x01;
		ata_raise(a, c);
		return;
	case 0xef: /* SET FEATURES */
	case 0xe7: /* FLUSH CACHE */
	case 0xea: /* FLUSH CACHE EXT */
	case 0xe0: /* STANDBY IMMEDIATE */
	case 0xe1: /* IDLE IMMEDIATE */
	case 0xe2: /* STANDBY */
	case 0xe3: /* IDLE */
		ata_done(a, c);
		return;
	default:
		if (cmd >= 0x10 && cmd <= 0x1f) { /* RECALIBRATE */
			ata_done(a, c);
			return;
		}
		ata_abort(a, c);
		return;
	}
}

/* The host read the last byte of the sector in buf. */
static void ata_sector_read(struct ata *a, int c)
{
	struct ata_chan *ch = &a->r.ch[c];
	ch->remaining--;
	ch->lba++;
	if (!ch->remaining) {
		ch->xfer = XFER_NONE;
		ch->end = ch->pos = 0;
		ch->status = ST_DRDY | ST_DSC;
		return;
	}
	if (!ata_load_sector(a, c))
		return;
	/* One interrupt per DRQ block. */
	if (--ch->block_left == 0) {
		ch->block_left = (uint8_t)(ch->remaining < ch->block ? ch->remaining : ch->block);
		ata_raise(a, c);
	}
}

static uint64_t ata_read(void *opaque, enum devbus_space space, uint64_t addr, unsigned size)
{
	struct ata *a = opaque;
	(void)space;
	int c = (addr == 0x3f6 || (addr >= 0x1f0 && addr <= 0x1f7)) ? 0 : 1;
	struct ata_chan *ch = &a->r.ch[c];
	bool present = ata_present(a, c, ata_cur_dev(ch));
	bool hob = ch->ctl & CTL_HOB;

	if (!ata_chan_has_dev(a, c))
		return 0;
	if (addr == ata_ctl[c])
		return present ? ch->status : 0;
	switch (addr - ata_base[c]) {
	case 0: {
		if (!present || ch->xfer != XFER_READ || ch->pos >= ch->end)
			return 0;
		uint64_t v = 0;
		for (unsigned i = 0; i < size && ch->pos < ch->end; i++)
			v |= (uint64_t)ch->buf[ch->pos++] << (8 * i);
		if (ch->pos >= ch->end)
			ata_sector_read(a, c);
		return v;
	}
	case 1:
		return hob ? ch->hob_feature : ch->error;
	case 2:
		return hob ? ch->hob_nsector : ch->nsector;
	case 3:
		return hob ? ch->hob_sector : ch->sector;
	case 4:
		return hob ? ch->hob_lcyl : ch->lcyl;
	case 5:
		return hob ? ch->hob_hcyl : ch->hcyl;
	case 6:
		return ch->select;
	default:
		if (!present)
			return 0;
		ch->irq_pending = 0;
		ata_update_irq(a, c);
		return ch->status;
	}
}

static void ata_write(void *opaque, enum devbus_space space, uint64_t addr, unsigned size, uint64_t val64)
{
	struct ata *a = opaque;
	(void)space;
	(void)size;
	int c = (addr == 0x3f6 || (addr >= 0x1f0 && addr <= 0x1f7)) ? 0 : 1;
	struct ata_chan *ch = &a->r.ch[c];
	uint8_t val = (uint8_t)val64;

	if (addr == ata_ctl[c]) {
		uint8_t old = ch->ctl;
		ch->ctl = val;
		if ((val & CTL_SRST) && !(old & CTL_SRST)) {
			ch->xfer = XFER_NONE;
			ch->end = ch->pos = 0;
			ch->status = ST_BSY | ST_DSC;
			ch->irq_pending = 0;
		} else if (!(val & CTL_SRST) && (old & CTL_SRST)) {
			/* Reset done: device 0 selected, diagnostic code 1, the ATA signature. */
			ata_signature(ch);
			ch->error = 0x01;
			ch->status = ST_DRDY | ST_DSC;
			ch->cur_heads = (uint8_t)a->heads;
			ch->cur_spt = (uint8_t)a->spt;
		}
		ata_update_irq(a, c);
		return;
	}
	unsigned reg = (unsigned)(addr - ata_base[c]);
	/* Writing a command block register clears HOB; the previous value becomes the HOB byte. */
	if (reg >= 1 && reg <= 5) {
		ch->ctl &= (uint8_t)~CTL_HOB;
	}
	switch (reg) {
	case 0:
		return; /* no PIO-out command is accepted, so there is no data to take */
	case 1:
		ch->hob_feature = ch->feature;
		ch->feature = val;
		break;
	case 2:
		ch->hob_nsector = ch->nsector;
		ch->nsector = val;
		break;
	case 3:
		ch->hob_sector = ch->sector;
		ch->sector = val;
		break;
	case 4:
		ch->hob_lcyl = ch->lcyl;
		ch->lcyl = val;
		break;
	case 5:
		ch->hob_hcyl = ch->hcyl;
		ch->hcyl = val;
		break;
	case 6:
		ch->select = val | 0xa0;
		break;
	default:
		if (ch->ctl & CTL_SRST)
			return;
		ata_command(a, c, val);
		break;
	}
}

static size_t ata_save(const void *opaque, uint8_t *buf, size_t cap)
{
	const struct ata *a = opaque;
	if (cap >= sizeof(a->r))
		memcpy(buf, &a->r, sizeof(a->r));
	return sizeof(a->r);
}

static int ata_restore(void *opaque, const uint8_t *buf, size_t len)
{
	struct ata *a = opaque;
	struct ata_regs r;
	if (len != sizeof(r))
		return -EINVAL;
	memcpy(&r, buf, sizeof(r));
	for (int i = 0; i < 2; i++) {
		const struct ata_chan *ch = &r.ch[i];
		if (ch->pos > ch->end || ch->end > 512 || ch->xfer > XFER_READ || ch->irq_pending > 1 ||
		    ch->irq_level > 1 || ch->mult > 16 || ch->block > 16 || ch->block_left > 16 ||
		    !ch->cur_spt || !ch->cur_heads || ch->cur_heads > 16)
			return -EINVAL;
	}
	a->r = r;
	return 0;
}

static void ata_free(void *opaque)
{
	struct ata *a = opaque;
	if (a->fd >= 0)
		close(a->fd);
	free(a);
}

static const struct devbus_ops ata_ops = {
    .name = PC_DEV_ATA,
    .read = ata_read,
    .write = ata_write,
    .save = ata_save,
    .restore = ata_restore,
    .free = ata_free,
};

int pc_ata_add(struct devbus *bus, const char *disk_path, char *err, size_t errlen)
{
	struct ata *a = calloc(1, sizeof(*a));
	struct devbus_dev *dev;
	struct stat sb;
	int rc;

	if (!a)
		return -ENOMEM;
	a->bus = bus;
	a->fd = -1;
	a->cyls = 2;
	a->heads = 16;
	a->spt = 63;
	if (disk_path) {
		a->fd = open(disk_path, O_RDONLY | O_CLOEXEC);
		if (a->fd < 0 || fstat(a->fd, &sb) || !S_ISREG(sb.st_mode) || sb.st_size < 512) {
			rc = a->fd < 0 ? -errno : -EINVAL;
			snprintf(err, errlen,
			         "%s: %s; --disk takes a raw disk image file of at least 512 bytes",
			         disk_path,
			         a->fd < 0 ? strerror(errno) : "not a regular file of 512 bytes or more");
			ata_free(a);
			return rc;
		}
		a->sectors = ((uint64_t)sb.st_size + 511) / 512;
		/* CHS as QEMU guesses it for a disk without a partition table: 16 heads, 63 sectors. */
		uint64_t cyls = a->sectors / (16 * 63);
		a->cyls = (uint16_t)(cyls > 16383 ? 16383 : cyls < 2 ? 2 : cyls);
	}
	for (int i = 0; i < 2; i++) {
		struct ata_chan *ch = &a->r.ch[i];
		ata_signature(ch);
		ch->error = 0x01;
		ch->status = ata_present(a, i, 0) ? ST_DRDY | ST_DSC : 0;
		ch->cur_heads = (uint8_t)a->heads;
		ch->cur_spt = (uint8_t)a->spt;
	}
	if ((rc = devbus_add(bus, &ata_ops, a, &dev)))
		return rc;
	if ((rc = devbus_map_pio(bus, dev, 0x1f0, 8)) || (rc = devbus_map_pio(bus, dev, 0x3f6, 1)) ||
	    (rc = devbus_map_pio(bus, dev, 0x170, 8)) || (rc = devbus_map_pio(bus, dev, 0x376, 1)))
		return rc;
	return 0;
}
