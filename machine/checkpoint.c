/* Device checkpoints: the clock, IRQ levels and every device's save() record in one buffer. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "private.h"

#define SAVE_MAGIC "EDBUS01"

struct buf {
	uint8_t *p;
	size_t len, cap;
	bool oom;
};

static void buf_put(struct buf *b, const void *data, size_t len)
{
	if (b->oom)
		return;
	if (b->len + len > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		uint8_t *p;

		while (cap < b->len + len)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, len);
	b->len += len;
}

/* Saves into a new buffer; also used for the rollback copy in restore. */
int devbus_save(const struct devbus *bus, uint8_t **out, size_t *out_len)
{
	struct buf b = {0};
	uint32_t ndevs = (uint32_t)bus->ndevs;
	uint8_t exited = bus->exited;

	*out = NULL;
	*out_len = 0;
	buf_put(&b, SAVE_MAGIC, 8);
	buf_put(&b, &bus->now, 8);
	buf_put(&b, &bus->irq_levels, 4);
	buf_put(&b, &exited, 1);
	buf_put(&b, &bus->exit_status, 4);
	buf_put(&b, &ndevs, 4);
	for (size_t i = 0; i < bus->ndevs; i++) {
		const struct devbus_dev *d = bus->devs[i];
		uint8_t nlen = (uint8_t)strlen(d->ops->name);
		uint32_t slen = d->ops->save ? (uint32_t)d->ops->save(d->opaque, NULL, 0) : 0;
		buf_put(&b, &nlen, 1);
		buf_put(&b, d->ops->name, nlen);
		buf_put(&b, &d->deadline, 8);
		buf_put(&b, &slen, 4);
		if (slen && !b.oom) {
			uint8_t *tmp = malloc(slen);

			if (!tmp) {
				b.oom = true;
				break;
			}
			if (d->ops->save(d->opaque, tmp, slen) != slen)
				memset(tmp, 0, slen);
			buf_put(&b, tmp, slen);
			free(tmp);
		}
	}
	if (b.oom) {
		free(b.p);
		return -ENOMEM;
	}
	*out = b.p;
	*out_len = b.len;
	return 0;
}

struct rec {
	struct devbus_dev *dev;
	uint64_t deadline;
	const uint8_t *state;
	uint32_t len;
};

static bool take(const uint8_t **p, size_t *left, void *dst, size_t n)
{
	if (*left < n)
		return false;
	if (dst)
		memcpy(dst, *p, n);
	*p += n;
	*left -= n;
	return true;
}

/* Parses and checks a whole checkpoint; recs gets one entry per device, in bus order. */
static int parse(const struct devbus *bus, const uint8_t *p, size_t left, struct rec *recs, uint64_t *now,
                 uint32_t *irq, uint8_t *exited, uint32_t *status)
{
	char magic[8];
	uint32_t ndevs;

	if (!take(&p, &left, magic, 8) || memcmp(magic, SAVE_MAGIC, 8) != 0 || !take(&p, &left, now, 8) ||
	    !take(&p, &left, irq, 4) || !take(&p, &left, exited, 1) || !take(&p, &left, status, 4) ||
	    !take(&p, &left, &ndevs, 4) || ndevs != bus->ndevs)
		return -EINVAL;
	memset(recs, 0, bus->ndevs * sizeof(*recs));
	for (uint32_t i = 0; i < ndevs; i++) {
		char name[256];
		uint8_t nlen;
		struct rec r;
		struct devbus_dev *d;

		if (!take(&p, &left, &nlen, 1) || !take(&p, &left, name, nlen))
			return -EINVAL;
		name[nlen] = 0;
		if (!take(&p, &left, &r.deadline, 8) || !take(&p, &left, &r.len, 4))
			return -EINVAL;
		r.state = p;
		if (!take(&p, &left, NULL, r.len))
			return -EINVAL;
		d = devbus_find_dev(bus, name);
		if (!d || recs[d->index].dev)
			return -EINVAL;
		if (r.len && !d->ops->restore)
			return -EINVAL;
		r.dev = d;
		recs[d->index] = r;
	}
	return left == 0 ? 0 : -EINVAL;
}

static int apply(struct devbus *bus, const uint8_t *buf, size_t len)
{
	struct rec *recs = calloc(bus->ndevs ? bus->ndevs : 1, sizeof(*recs));
	uint64_t now;
	uint32_t irq, status;
	uint8_t exited;
	int err;

	if (!recs)
		return -ENOMEM;
	err = parse(bus, buf, len, recs, &now, &irq, &exited, &status);
	if (err)
		goto out;
	for (size_t i = 0; i < bus->ndevs; i++) {
		struct devbus_dev *d = recs[i].dev;

		if (d->ops->save && d->ops->restore &&
		    (err = d->ops->restore(d->opaque, recs[i].state, recs[i].len)))
			goto out;
		d->deadline = recs[i].deadline;
	}
	bus->now = now;
	for (unsigned line = 0; line < DEVBUS_NIRQ; line++)
		devbus_irq_set(bus, line, irq & (1u << line));
	bus->exited = exited;
	bus->exit_status = status;
	snprintf(bus->exit_msg, sizeof(bus->exit_msg), "guest exited with status %u", status);
out:
	free(recs);
	return err;
}

int devbus_restore(struct devbus *bus, const uint8_t *buf, size_t len)
{
	uint8_t *backup;
	size_t blen;
	int err;

	err = devbus_save(bus, &backup, &blen);
	if (err)
		return err;
	err = apply(bus, buf, len);
	/* A device refused its record after others took theirs: put everything back. */
	if (err)
		apply(bus, backup, blen);
	free(backup);
	return err;
}
