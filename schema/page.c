/* The page store: guest memory pages by content (SHA-256/128 -> zstd frame) and the page map that says
 * which content a page holds from which step on. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "private.h"

static const uint32_t sha_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t ror(uint32_t x, unsigned n)
{
	return (x >> n) | (x << (32 - n));
}

static void sha_block(uint32_t h[8], const uint8_t *p)
{
	uint32_t w[64], a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];

	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 |
		       p[4 * i + 3];
	for (int i = 16; i < 64; i++) {
		uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
		uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	for (int i = 0; i < 64; i++) {
		uint32_t t1 =
		    k + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + sha_k[i] + w[i];
		uint32_t t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
		k = g;
		g = f;
		f = e;
		e = d + t1;
		d = c;
		c = b;
		b = a;
		a = t1 + t2;
	}
	h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += k;
}

/* SHA-256, first 128 bits: accidental collisions need ~2^64 distinct pages, crafted ones break SHA-256. */
void trace_sha128(const void *data, size_t len, uint8_t out[TRACE_HASH_LEN])
{
	uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
	                 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
	const uint8_t *p = data;
	uint8_t tail[128] = {0};
	size_t full = len & ~(size_t)63, rest = len - full;

	for (size_t i = 0; i < full; i += 64)
		sha_block(h, p + i);
	memcpy(tail, p + full, rest);
	tail[rest] = 0x80;
	size_t tlen = rest < 56 ? 64 : 128;
	uint64_t bits = (uint64_t)len * 8;
	for (int i = 0; i < 8; i++)
		tail[tlen - 1 - i] = (uint8_t)(bits >> (8 * i));
	sha_block(h, tail);
	if (tlen == 128)
		sha_block(h, tail + 64);
	for (int i = 0; i < TRACE_HASH_LEN / 4; i++) {
		out[4 * i] = (uint8_t)(h[i] >> 24);
		out[4 * i + 1] = (uint8_t)(h[i] >> 16);
		out[4 * i + 2] = (uint8_t)(h[i] >> 8);
		out[4 * i + 3] = (uint8_t)h[i];
	}
}

int page_store(struct trace *t, const uint8_t *data, uint8_t hash[TRACE_HASH_LEN])
{
	sqlite3_stmt *has = t->st[ST_PAGE_HAS], *ins = t->st[ST_PAGE_INS];
	int src, rc = 0;

	trace_sha128(data, TRACE_PAGE_SIZE, hash);
	sqlite3_reset(has);
	sqlite3_bind_blob(has, 1, hash, TRACE_HASH_LEN, SQLITE_STATIC);
	src = sqlite3_step(has);
	sqlite3_reset(has);
	if (src == SQLITE_ROW)
		return 0; /* the content is stored already */
	if (src != SQLITE_DONE)
		return trace_sql_err(t, src, "looking up a page");
	rc = buf_reserve(&t->zbuf, ZSTD_compressBound(TRACE_PAGE_SIZE));
	if (rc)
		return rc;
	size_t z =
	    ZSTD_compressCCtx(t->cctx, t->zbuf.p, t->zbuf.cap, data, TRACE_PAGE_SIZE, TRACE_PAGE_LEVEL);
	if (ZSTD_isError(z))
		return trace_set_err(t, -EIO, "compressing a page: %s", ZSTD_getErrorName(z));
	sqlite3_reset(ins);
	sqlite3_bind_blob(ins, 1, hash, TRACE_HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(ins, 2, t->zbuf.p, (int)z, SQLITE_STATIC);
	src = sqlite3_step(ins);
	sqlite3_reset(ins);
	if (src != SQLITE_DONE)
		return trace_sql_err(t, src, "storing a page");
	return 0;
}

int page_fetch(struct trace *t, const uint8_t hash[TRACE_HASH_LEN], uint8_t *out, uint64_t gpa, uint64_t step)
{
	sqlite3_stmt *s = t->st[ST_PAGE_GET];
	int src, rc = 0;

	sqlite3_reset(s);
	sqlite3_bind_blob(s, 1, hash, TRACE_HASH_LEN, SQLITE_STATIC);
	src = sqlite3_step(s);
	if (src == SQLITE_DONE) {
		rc = trace_set_err(t, -EINVAL,
		                   "step %llu: page 0x%llx: its content is missing from the page store",
		                   (unsigned long long)step, (unsigned long long)gpa);
		goto out;
	}
	if (src != SQLITE_ROW) {
		rc = trace_sql_err(t, src, "reading a page");
		goto out;
	}
	const void *z = sqlite3_column_blob(s, 0);
	size_t zlen = (size_t)sqlite3_column_bytes(s, 0);
	size_t got = z ? ZSTD_decompressDCtx(t->dctx, out, TRACE_PAGE_SIZE, z, zlen) : 0;
	if (!z || ZSTD_isError(got) || got != TRACE_PAGE_SIZE) {
		rc = trace_set_err(t, -EINVAL, "step %llu: page 0x%llx: stored content is damaged",
		                   (unsigned long long)step, (unsigned long long)gpa);
		goto out;
	}
out:
	sqlite3_reset(s);
	return rc;
}

int page_at(struct trace *t, struct chunk *c, uint64_t step, uint64_t page, uint8_t *out)
{
	sqlite3_stmt *s = t->st[ST_MAP_AT];
	uint64_t gpa = page << TRACE_PAGE_SHIFT, from = c ? c->first : step;
	uint8_t hash[TRACE_HASH_LEN];
	bool found = false;
	int src, rc;

	sqlite3_reset(s);
	sqlite3_bind_int64(s, 1, (sqlite3_int64)gpa);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)step);
	src = sqlite3_step(s);
	if (src == SQLITE_ROW) {
		uint64_t at = (uint64_t)sqlite3_column_int64(s, 0);
		if (sqlite3_column_bytes(s, 1) != TRACE_HASH_LEN) {
			sqlite3_reset(s);
			return trace_set_err(t, -EINVAL, "step %llu: page 0x%llx: damaged page map row",
			                     (unsigned long long)at, (unsigned long long)gpa);
		}
		memcpy(hash, sqlite3_column_blob(s, 1), TRACE_HASH_LEN);
		found = true;
		/* A row inside the chunk replaces everything the chunk wrote before it. */
		if (at > from)
			from = at;
	} else if (src != SQLITE_DONE) {
		sqlite3_reset(s);
		return trace_sql_err(t, src, "reading the page map");
	}
	sqlite3_reset(s);
	if (found) {
		rc = page_fetch(t, hash, out, gpa, step);
		if (rc)
			return rc;
	} else {
		memset(out, 0, TRACE_PAGE_SIZE); /* never stored: guest memory starts zeroed */
	}
	if (c && from < step)
		return chunk_replay_page(t, c, from, step, page, out);
	return 0;
}

int memory_read(struct trace *t, struct chunk *c, uint64_t step, uint64_t gpa, void *buf, size_t len)
{
	uint8_t *page = malloc(TRACE_PAGE_SIZE), *dst = buf;
	int rc = 0;

	if (!page)
		return -ENOMEM;
	if (gpa + len < gpa) {
		rc = trace_set_err(t, -EINVAL, "memory range 0x%llx+%zu wraps", (unsigned long long)gpa, len);
		goto out;
	}
	while (len) {
		uint64_t pn = gpa >> TRACE_PAGE_SHIFT, off = gpa & (TRACE_PAGE_SIZE - 1);
		size_t n = TRACE_PAGE_SIZE - off < len ? TRACE_PAGE_SIZE - off : len;
		rc = page_at(t, c, step, pn, page);
		if (rc)
			goto out;
		memcpy(dst, page + off, n);
		dst += n;
		gpa += n;
		len -= n;
	}
out:
	free(page);
	return rc;
}
