/* Internals of the trace store: shared by trace.c, trace_write.c, codec.c, page.c. */
#ifndef EMUDIFF_SCHEMA_PRIVATE_H
#define EMUDIFF_SCHEMA_PRIVATE_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zstd.h>

#include "trace.h"

#define TRACE_HASH_LEN      16 /* SHA-256 truncated to 128 bits */
#define TRACE_CHUNK_VERSION 1
#define TRACE_CHUNK_LEVEL   9
#define TRACE_PAGE_LEVEL    3

/* One zstd frame at level, with its content checksum (a damaged blob fails to decompress, never decodes
 * to other bytes); 0 or a zstd error code. */
size_t trace_zstd_frame(struct trace *t, void *dst, size_t cap, const void *src, size_t len, int level);
#define TRACE_PAGE_SHIFT    12
#define TRACE_MAX_RAW_CHUNK (1ull << 31)

/* A growable byte buffer. */
struct buf {
	uint8_t *p;
	size_t len, cap;
};

int buf_reserve(struct buf *b, size_t more);
void buf_free(struct buf *b);

/* Caller has reserved 10 bytes. */
static inline void buf_put_varint(struct buf *b, uint64_t v)
{
	uint8_t *p = b->p + b->len;
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	b->len = (size_t)(p - b->p);
}

static inline uint64_t zigzag(uint64_t d)
{
	return (d << 1) ^ (uint64_t)(-(int64_t)(d >> 63));
}

static inline uint64_t unzigzag(uint64_t z)
{
	return (z >> 1) ^ (uint64_t)(-(int64_t)(z & 1));
}

/* Bounded reader over a byte range: every get fails cleanly past the end. */
struct rd {
	const uint8_t *p, *end;
};

/* rd_varint for a value of more than one byte. */
int rd_varint_long(struct rd *r, uint64_t *out);

/* Always inlined: a call costs more than the one-byte case it wraps. */
static inline __attribute__((always_inline)) int rd_varint(struct rd *r, uint64_t *out)
{
	/* Most varints of a chunk are one byte. */
	if (r->p < r->end && !(*r->p & 0x80)) {
		*out = *r->p++;
		return 0;
	}
	return rd_varint_long(r, out);
}

/* Steps over one varint as rd_varint reads it (at most ten bytes), without its value. */
static inline int skip_varint(struct rd *r)
{
	const uint8_t *p = r->p, *end = r->end - r->p > 10 ? r->p + 10 : r->end;
	while (p < end)
		if (!(*p++ & 0x80)) {
			r->p = p;
			return 0;
		}
	return -1;
}

/* Appends v to a growable array; 0 or -ENOMEM. */
int u64_push(uint64_t **a, size_t *n, size_t *cap, uint64_t v);

/* Open-addressing map from a 64-bit key to a pointer (linear probing, backward-shift delete). */
struct u64map {
	uint64_t *keys;
	void **vals;
	size_t cap, n; /* cap is a power of two; NULL value = empty slot */
};

void **u64map_get(const struct u64map *m, uint64_t key);
int u64map_put(struct u64map *m, uint64_t key, void *val);
void *u64map_del(struct u64map *m, uint64_t key);
void u64map_free(struct u64map *m);

void trace_sha128(const void *data, size_t len, uint8_t out[TRACE_HASH_LEN]);

/* A decoded chunk: steps [first, first + n), states first..first + n. */
struct chunk {
	bool valid;
	uint64_t first, n;
	bool has_end;
	uint64_t n_states; /* n + 1 with an end state, else n */
	/* raw and the offset arrays are kept across loads: fresh buffers this size fault in every time */
	uint8_t *raw;
	size_t raw_len, raw_cap;
	uint64_t off_cap; /* entries allocated in each of the offset arrays */
	uint32_t nwords;
	const uint8_t *kinds;
	const uint8_t *state0; /* nwords little-endian words */
	uint32_t *state_off;   /* n_states - 1 entries: offset in raw of the delta giving state j + 1 */
	uint32_t *wmeta_off;   /* n + 1 entries */
	uint32_t *wdata_off;   /* n + 1 entries */
	struct trace_input *inputs;
	uint32_t *input_idx; /* n + 1 entries into inputs */
	uint64_t cur_idx;    /* state index the cursor holds, or UINT64_MAX */
	uint64_t cur[X86_STATE_WORDS];
	struct trace_write *wtmp; /* trace_step_at's writes */
	uint32_t wtmp_cap;
	/* The pages any step of the chunk writes, sorted: built on the first page_at, so that reading a page
	 * the chunk never writes does not scan the chunk. */
	uint64_t *written;
	size_t n_written, cap_written;
	bool written_built;
};

struct chunk_ref {
	uint64_t first, n;
	bool has_end; /* holds state first + n; else the next chunk's first state is it */
};

struct wpage {
	uint8_t hash[TRACE_HASH_LEN];
	uint8_t *data; /* loaded content, or NULL until a write needs it */
	bool dirty;
	bool known; /* hash is valid: the page has a page map row */
};

enum stmt_id {
	ST_META_SET,
	ST_META_GET,
	ST_CHUNK_INS,
	ST_CHUNK_GET,
	ST_PAGE_HAS,
	ST_PAGE_INS,
	ST_PAGE_GET,
	ST_MAP_INS,
	ST_MAP_AT,
	ST_MAP_RANGE,
	ST_EXIT_INS,
	ST_EVENT_INS,
	ST_INPUT_INS,
	ST_INPUT_RANGE,
	ST_COUNT
};

struct trace {
	sqlite3 *db;
	char *path;
	bool writer, complete, finished;
	int version; /* the format version of the file (TRACE_FORMAT_VERSION when written) */
	char err[512];
	sqlite3_stmt *st[ST_COUNT];
	ZSTD_CCtx *cctx;
	ZSTD_DCtx *dctx;

	/* committed chunks, in step order */
	struct chunk_ref *chunks;
	size_t n_chunks, cap_chunks;
	uint64_t committed; /* steps in committed chunks */
	uint64_t count;     /* steps whose end state is known */

	struct chunk rc; /* the reader's cached chunk */
	struct trace_input *itmp;

	/* writer */
	uint64_t appended;  /* steps appended */
	uint64_t buf_first; /* first step in the buffers */
	uint64_t buf_n;     /* steps in the buffers */
	uint64_t prev[X86_STATE_WORDS];
	struct buf kinds, states, wmeta, wdata;
	size_t wmeta_applied, wdata_applied; /* buffered writes applied to the image so far */
	struct u64map image;                 /* page number -> struct wpage */
	struct buf dirty;                    /* page numbers (uint64_t) dirtied in this chunk */
	struct buf raw, zbuf;
	bool in_txn;
};

int trace_set_err(struct trace *t, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int trace_sql_err(struct trace *t, int rc, const char *what);
int trace_prepare_all(struct trace *t);
int trace_load_chunks(struct trace *t);
int trace_chunk_index_add(struct trace *t, uint64_t first, uint64_t n, bool has_end);

/* codec.c */
int trace_input_row(struct trace *t, sqlite3_stmt *s, struct trace_input *in);
void chunk_free(struct chunk *c);
int chunk_load(struct trace *t, struct chunk *c, uint64_t step);
int chunk_state(struct trace *t, struct chunk *c, uint64_t idx, uint64_t *words);
int chunk_step(struct trace *t, struct chunk *c, uint64_t step, struct trace_step *out);
/* Applies writes of steps [from, to) of chunk c falling in page `page` to buf. */
int chunk_replay_page(struct trace *t, struct chunk *c, uint64_t from, uint64_t to, uint64_t page,
                      uint8_t *buf);

/* page.c */
int page_store(struct trace *t, const uint8_t *data, uint8_t hash[TRACE_HASH_LEN]);
int page_fetch(struct trace *t, const uint8_t hash[TRACE_HASH_LEN], uint8_t *out, uint64_t gpa,
               uint64_t step);
/* Content of page `page` before `step`, using chunk c (the chunk holding step, or NULL past the end). */
/* Whether a step of the chunk writes to the page; 0, or -errno on a damaged chunk. */
int chunk_writes_page(struct trace *t, struct chunk *c, uint64_t page, bool *writes);
int page_at(struct trace *t, struct chunk *c, uint64_t step, uint64_t page, uint8_t *out);
int memory_read(struct trace *t, struct chunk *c, uint64_t step, uint64_t gpa, void *buf, size_t len);

#endif
