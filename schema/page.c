/* The page store: guest memory pages by content (SHA-256/128 -> zstd frame) and the page map that says
 * which content a page holds from which step on. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "private.h"
#include "sha256.h"

/* SHA-256, first 128 bits: accidental collisions need ~2^64 distinct pages, crafted ones break SHA-256. */
void trace_sha128(const void *data, size_t len, uint8_t out[TRACE_HASH_LEN])
{
	uint8_t full[32];
	sha256(data, len, full);
	memcpy(out, full, TRACE_HASH_LEN);
}

size_t trace_zstd_frame(struct trace *t, void *dst, size_t cap, const void *src, size_t len, int level)
{
	size_t e = ZSTD_CCtx_setParameter(t->cctx, ZSTD_c_compressionLevel, level);
	if (!ZSTD_isError(e))
		e = ZSTD_CCtx_setParameter(t->cctx, ZSTD_c_checksumFlag, 1);
	return ZSTD_isError(e) ? e : ZSTD_compress2(t->cctx, dst, cap, src, len);
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
	size_t z = trace_zstd_frame(t, t->zbuf.p, t->zbuf.cap, data, TRACE_PAGE_SIZE, TRACE_PAGE_LEVEL);
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
	/* The store is content-addressed: content that does not hash to its key is damaged. */
	uint8_t check[TRACE_HASH_LEN];
	trace_sha128(out, TRACE_PAGE_SIZE, check);
	if (memcmp(check, hash, TRACE_HASH_LEN)) {
		rc =
		    trace_set_err(t, -EINVAL,
		                  "step %llu: page 0x%llx: the stored content does not match its hash (table "
		                  "pages is damaged)",
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
	if (c && from < step) {
		bool writes;
		rc = chunk_writes_page(t, c, page, &writes);
		if (rc || !writes)
			return rc;
		return chunk_replay_page(t, c, from, step, page, out);
	}
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
