/* The chunk codec: decoding and validating one chunk of steps, and the small containers it needs.
 * The encoder lives in trace_write.c, beside the buffers it fills. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "private.h"

int buf_reserve(struct buf *b, size_t more)
{
	if (b->cap - b->len >= more)
		return 0;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap - b->len < more) {
		if (cap > SIZE_MAX / 2)
			return -ENOMEM;
		cap *= 2;
	}
	uint8_t *p = realloc(b->p, cap);
	if (!p)
		return -ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

void buf_free(struct buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static size_t u64map_slot(uint64_t key, size_t mask)
{
	key ^= key >> 33;
	key *= 0xff51afd7ed558ccdull;
	key ^= key >> 33;
	return (size_t)key & mask;
}

void **u64map_get(const struct u64map *m, uint64_t key)
{
	if (!m->cap)
		return NULL;
	size_t mask = m->cap - 1;
	for (size_t i = u64map_slot(key, mask);; i = (i + 1) & mask) {
		if (!m->vals[i])
			return NULL;
		if (m->keys[i] == key)
			return &m->vals[i];
	}
}

static int u64map_grow(struct u64map *m)
{
	size_t cap = m->cap ? m->cap * 2 : 256;
	struct u64map n = {
	    .keys = calloc(cap, sizeof(uint64_t)), .vals = calloc(cap, sizeof(void *)), .cap = cap};
	if (!n.keys || !n.vals) {
		free(n.keys);
		free(n.vals);
		return -ENOMEM;
	}
	for (size_t i = 0; i < m->cap; i++)
		if (m->vals[i])
			u64map_put(&n, m->keys[i], m->vals[i]);
	free(m->keys);
	free(m->vals);
	*m = n;
	return 0;
}

int u64map_put(struct u64map *m, uint64_t key, void *val)
{
	if ((m->n + 1) * 4 > m->cap * 3) {
		int rc = u64map_grow(m);
		if (rc)
			return rc;
	}
	size_t mask = m->cap - 1;
	size_t i = u64map_slot(key, mask);
	while (m->vals[i] && m->keys[i] != key)
		i = (i + 1) & mask;
	if (!m->vals[i])
		m->n++;
	m->keys[i] = key;
	m->vals[i] = val;
	return 0;
}

void *u64map_del(struct u64map *m, uint64_t key)
{
	void **slot = u64map_get(m, key);
	if (!slot)
		return NULL;
	void *val = *slot;
	size_t mask = m->cap - 1;
	size_t i = (size_t)(slot - m->vals);
	/* Backward-shift deletion keeps probe chains intact without tombstones. */
	for (size_t j = (i + 1) & mask; m->vals[j]; j = (j + 1) & mask) {
		size_t home = u64map_slot(m->keys[j], mask);
		if (((j - home) & mask) >= ((j - i) & mask)) {
			m->keys[i] = m->keys[j];
			m->vals[i] = m->vals[j];
			i = j;
		}
	}
	m->vals[i] = NULL;
	m->n--;
	return val;
}

void u64map_free(struct u64map *m)
{
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof(*m));
}

/* Forgets the chunk's steps but keeps its buffers for the next load. */
static void chunk_reset(struct chunk *c)
{
	free(c->inputs);
	free(c->input_idx);
	c->inputs = NULL;
	c->input_idx = NULL;
	c->valid = false;
	c->raw_len = 0;
	c->written_built = false;
	c->n_written = 0;
}

void chunk_free(struct chunk *c)
{
	free(c->raw);
	free(c->state_off);
	free(c->wmeta_off);
	free(c->wdata_off);
	free(c->inputs);
	free(c->input_idx);
	free(c->wtmp);
	free(c->written);
	memset(c, 0, sizeof(*c));
}

static const struct chunk_ref *chunk_find(const struct trace *t, uint64_t step)
{
	size_t lo = 0, hi = t->n_chunks;
	/* The last chunk whose first step is <= step. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (t->chunks[mid].first <= step)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? &t->chunks[lo - 1] : NULL;
}

/* step: the step being read; first: the damaged chunk's first step. */
static int chunk_bad(struct trace *t, struct chunk *c, uint64_t step, uint64_t first, const char *what)
{
	c->valid = false;
	return trace_set_err(t, -EINVAL, "step %llu: the chunk of steps from %llu is damaged (%s)",
	                     (unsigned long long)step, (unsigned long long)first, what);
}

/* One row of the inputs table (columns: step, kind_code, addr, size, value, count), checked: a damaged row
 * is an error naming its step, never a value larger than trace_input holds. */
int trace_input_row(struct trace *t, sqlite3_stmt *s, struct trace_input *in)
{
	uint64_t step = (uint64_t)sqlite3_column_int64(s, 0);
	sqlite3_int64 kind = sqlite3_column_int64(s, 1), size = sqlite3_column_int64(s, 3);
	sqlite3_int64 count = sqlite3_column_int64(s, 5);

	memset(in, 0, sizeof(*in));
	if (kind < 0 || kind > 255 || size < 0 || size > (sqlite3_int64)sizeof(in->data) || count < 0 ||
	    count > UINT32_MAX)
		return trace_set_err(t, -EINVAL, "step %llu: damaged input row", (unsigned long long)step);
	in->kind = (uint8_t)kind;
	in->size = (uint8_t)size;
	in->count = (uint32_t)count;
	in->addr = (uint64_t)sqlite3_column_int64(s, 2);
	if (sqlite3_column_type(s, 4) == SQLITE_INTEGER && size <= 8) {
		uint64_t v = (uint64_t)sqlite3_column_int64(s, 4);
		for (int i = 0; i < 8; i++)
			in->data[i] = (uint8_t)(v >> (8 * i));
	} else if (sqlite3_column_type(s, 4) == SQLITE_BLOB && sqlite3_column_bytes(s, 4) == size) {
		memcpy(in->data, sqlite3_column_blob(s, 4), (size_t)size);
	} else {
		return trace_set_err(t, -EINVAL, "step %llu: damaged input value", (unsigned long long)step);
	}
	return 0;
}

static int load_inputs(struct trace *t, struct chunk *c)
{
	sqlite3_stmt *s = t->st[ST_INPUT_RANGE];
	size_t n = 0, cap = 0;
	struct trace_input *arr = NULL;
	int rc = 0;

	c->input_idx = calloc(c->n + 1, sizeof(uint32_t));
	if (!c->input_idx)
		return -ENOMEM;
	sqlite3_reset(s);
	sqlite3_bind_int64(s, 1, (sqlite3_int64)c->first);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)(c->first + c->n));
	int src;
	while ((src = sqlite3_step(s)) == SQLITE_ROW) {
		uint64_t step = (uint64_t)sqlite3_column_int64(s, 0);
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			struct trace_input *na = realloc(arr, cap * sizeof(*arr));
			if (!na) {
				rc = -ENOMEM;
				goto out;
			}
			arr = na;
		}
		if (step < c->first || step >= c->first + c->n) {
			rc = trace_set_err(t, -EINVAL, "step %llu: damaged input row",
			                   (unsigned long long)step);
			goto out;
		}
		if ((rc = trace_input_row(t, s, &arr[n])) < 0)
			goto out;
		c->input_idx[step - c->first + 1]++;
		n++;
	}
	if (src != SQLITE_DONE) {
		rc = trace_sql_err(t, src, "reading inputs");
		goto out;
	}
	for (uint64_t j = 0; j < c->n; j++)
		c->input_idx[j + 1] += c->input_idx[j];
	c->inputs = arr;
	arr = NULL;
out:
	sqlite3_reset(s);
	free(arr);
	return rc;
}

/* Walks every stream once so later accesses only follow validated offsets. */
static int chunk_parse(struct trace *t, struct chunk *c)
{
	struct rd r = {c->raw, c->raw + c->raw_len};
	uint64_t n, flags, nwords, lk, ls, lm, ld;

	if (r.p >= r.end || *r.p++ != TRACE_CHUNK_VERSION)
		return chunk_bad(t, c, c->first, c->first, "unknown chunk version");
	if (rd_varint(&r, &n) || rd_varint(&r, &flags) || rd_varint(&r, &nwords) || rd_varint(&r, &lk) ||
	    rd_varint(&r, &ls) || rd_varint(&r, &lm) || rd_varint(&r, &ld))
		return chunk_bad(t, c, c->first, c->first, "bad header");
	if (n != c->n || flags > 1 || (bool)flags != c->has_end || (!n && !flags) || lk != n || nwords == 0 ||
	    nwords > X86_STATE_WORDS)
		return chunk_bad(t, c, c->first, c->first, "header does not match the chunk row");
	c->n_states = n + flags;
	size_t left = (size_t)(r.end - r.p);
	if (lk > left || ls > left - lk || lm > left - lk - ls || ld != left - lk - ls - lm)
		return chunk_bad(t, c, c->first, c->first, "stream lengths do not add up");
	c->nwords = (uint32_t)nwords;
	c->kinds = r.p;
	for (uint64_t j = 0; j < n; j++)
		if (c->kinds[j] >= TRACE_STEP_KINDS)
			return chunk_bad(t, c, c->first + j, c->first, "unknown step kind");

	struct rd st = {r.p + lk, r.p + lk + ls};
	struct rd wm = {st.end, st.end + lm};
	const uint8_t *wd = wm.end;

	if (n + 1 > c->off_cap) {
		free(c->state_off);
		free(c->wmeta_off);
		free(c->wdata_off);
		c->state_off = malloc((n + 1) * sizeof(uint32_t));
		c->wmeta_off = malloc((n + 1) * sizeof(uint32_t));
		c->wdata_off = malloc((n + 1) * sizeof(uint32_t));
		c->off_cap = n + 1;
		if (!c->state_off || !c->wmeta_off || !c->wdata_off) {
			c->off_cap = 0;
			return -ENOMEM;
		}
	}
	if ((uint64_t)(st.end - st.p) < nwords * 8)
		return chunk_bad(t, c, c->first, c->first, "first state cut short");
	c->state0 = st.p;
	st.p += nwords * 8;
	for (uint64_t j = 0; j + 1 < c->n_states; j++) {
		c->state_off[j] = (uint32_t)(st.p - c->raw);
		uint64_t idx = 0, gap;
		for (;;) {
			if (rd_varint(&st, &gap))
				return chunk_bad(t, c, c->first + j, c->first, "state delta cut short");
			if (!gap)
				break;
			idx += gap - 1;
			if (idx >= nwords || skip_varint(&st))
				return chunk_bad(t, c, c->first + j, c->first, "bad state delta");
			idx++;
		}
	}
	if (st.p != st.end)
		return chunk_bad(t, c, c->first, c->first, "trailing state bytes");

	uint64_t data_used = 0;
	for (uint64_t j = 0; j < n; j++) {
		uint64_t nw, gpa, len;
		c->wmeta_off[j] = (uint32_t)(wm.p - c->raw);
		c->wdata_off[j] = (uint32_t)(wd + data_used - c->raw);
		if (rd_varint(&wm, &nw) || nw > UINT32_MAX)
			return chunk_bad(t, c, c->first + j, c->first, "bad write count");
		for (uint64_t w = 0; w < nw; w++) {
			if (rd_varint(&wm, &gpa) || rd_varint(&wm, &len) || len > UINT32_MAX ||
			    len > ld - data_used || gpa + len < gpa)
				return chunk_bad(t, c, c->first + j, c->first, "bad write");
			data_used += len;
		}
	}
	c->wmeta_off[n] = (uint32_t)(wm.p - c->raw);
	c->wdata_off[n] = (uint32_t)(wd + data_used - c->raw);
	if (wm.p != wm.end || data_used != ld)
		return chunk_bad(t, c, c->first, c->first, "write streams do not add up");
	return 0;
}

int chunk_load(struct trace *t, struct chunk *c, uint64_t step)
{
	const struct chunk_ref *ref = chunk_find(t, step);
	sqlite3_stmt *s = t->st[ST_CHUNK_GET];
	int rc, src;

	if (!ref || step >= ref->first + ref->n + ref->has_end)
		return trace_set_err(t, -ERANGE, "step %llu: not in the trace (it has %llu steps)",
		                     (unsigned long long)step, (unsigned long long)t->count);
	if (c->valid && c->first == ref->first)
		return 0;
	chunk_reset(c);
	c->first = ref->first;
	c->n = ref->n;
	c->has_end = ref->has_end;
	c->cur_idx = UINT64_MAX;
	sqlite3_reset(s);
	sqlite3_bind_int64(s, 1, (sqlite3_int64)ref->first);
	src = sqlite3_step(s);
	if (src != SQLITE_ROW) {
		rc = src == SQLITE_DONE ? chunk_bad(t, c, ref->first, ref->first, "row missing")
		                        : trace_sql_err(t, src, "reading a chunk");
		goto out;
	}
	sqlite3_int64 raw_bytes = sqlite3_column_int64(s, 1);
	const void *z = sqlite3_column_blob(s, 2);
	size_t zlen = (size_t)sqlite3_column_bytes(s, 2);
	if (raw_bytes <= 0 || (uint64_t)raw_bytes > TRACE_MAX_RAW_CHUNK || !z) {
		rc = chunk_bad(t, c, ref->first, ref->first, "bad size");
		goto out;
	}
	unsigned long long fsize = ZSTD_getFrameContentSize(z, zlen);
	if (fsize != (unsigned long long)raw_bytes) {
		rc = chunk_bad(t, c, ref->first, ref->first, "compressed size header mismatch");
		goto out;
	}
	if ((size_t)raw_bytes > c->raw_cap) {
		free(c->raw);
		c->raw_cap = 0;
		c->raw = malloc((size_t)raw_bytes);
		if (!c->raw) {
			rc = -ENOMEM;
			goto out;
		}
		c->raw_cap = (size_t)raw_bytes;
	}
	size_t got = ZSTD_decompressDCtx(t->dctx, c->raw, (size_t)raw_bytes, z, zlen);
	if (ZSTD_isError(got) || got != (size_t)raw_bytes) {
		rc = chunk_bad(t, c, ref->first, ref->first,
		               ZSTD_isError(got) ? ZSTD_getErrorName(got) : "short data");
		goto out;
	}
	c->raw_len = got;
	sqlite3_reset(s);
	rc = chunk_parse(t, c);
	if (!rc)
		rc = load_inputs(t, c);
	if (!rc)
		c->valid = true;
out:
	sqlite3_reset(s);
	if (rc)
		chunk_free(c);
	return rc;
}

int rd_varint_long(struct rd *r, uint64_t *out)
{
	uint64_t v = 0;
	for (unsigned shift = 0; shift < 64; shift += 7) {
		if (r->p >= r->end)
			return -1;
		uint8_t c = *r->p++;
		v |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80)) {
			*out = v;
			return 0;
		}
	}
	return -1;
}

static uint64_t le64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v; /* x86 hosts only: the state words are host-endian like struct x86_state */
}

int chunk_state(struct trace *t, struct chunk *c, uint64_t idx, uint64_t *words)
{
	if (idx >= c->n_states)
		return trace_set_err(t, -ERANGE, "step %llu: not in this chunk",
		                     (unsigned long long)(c->first + idx));
	if (c->cur_idx > idx) {
		memset(c->cur, 0, sizeof(c->cur));
		for (uint32_t w = 0; w < c->nwords; w++)
			c->cur[w] = le64(c->state0 + 8 * w);
		c->cur_idx = 0;
	}
	while (c->cur_idx < idx) {
		struct rd r = {c->raw + c->state_off[c->cur_idx], c->raw + c->raw_len};
		uint64_t w = 0, gap, v;
		for (;;) {
			if (rd_varint(&r, &gap))
				return chunk_bad(t, c, c->first + c->cur_idx, c->first, "state delta");
			if (!gap)
				break;
			w += gap - 1;
			if (w >= c->nwords || rd_varint(&r, &v))
				return chunk_bad(t, c, c->first + c->cur_idx, c->first, "state delta");
			c->cur[w] += unzigzag(v);
			w++;
		}
		c->cur_idx++;
	}
	memcpy(words, c->cur, sizeof(c->cur));
	return 0;
}

int chunk_step(struct trace *t, struct chunk *c, uint64_t step, struct trace_step *out)
{
	uint64_t j = step - c->first;
	int rc;

	if (step < c->first || j >= c->n)
		return trace_set_err(t, -ERANGE, "step %llu: not in the trace", (unsigned long long)step);
	/* Straight into the step: x86_state is whole words (x86_state.h), and every other field is set below.
	 */
	rc = chunk_state(t, c, j, (uint64_t *)&out->pre);
	if (rc)
		return rc;
	out->index = step;
	out->kind = (enum trace_step_kind)c->kinds[j];

	struct rd r = {c->raw + c->wmeta_off[j], c->raw + c->wmeta_off[j + 1]};
	const uint8_t *data = c->raw + c->wdata_off[j];
	uint64_t nw, gpa, len;
	if (rd_varint(&r, &nw))
		return chunk_bad(t, c, step, c->first, "write count");
	if (nw > c->wtmp_cap) {
		struct trace_write *nwp = realloc(c->wtmp, nw * sizeof(*nwp));
		if (!nwp)
			return -ENOMEM;
		c->wtmp = nwp;
		c->wtmp_cap = (uint32_t)nw;
	}
	for (uint64_t w = 0; w < nw; w++) {
		if (rd_varint(&r, &gpa) || rd_varint(&r, &len))
			return chunk_bad(t, c, step, c->first, "write");
		c->wtmp[w].gpa = gpa;
		c->wtmp[w].len = (uint32_t)len;
		c->wtmp[w].data = data;
		data += len;
	}
	out->n_writes = (uint32_t)nw;
	out->writes = nw ? c->wtmp : NULL;
	out->n_inputs = c->input_idx[j + 1] - c->input_idx[j];
	out->inputs = out->n_inputs ? c->inputs + c->input_idx[j] : NULL;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int u64_push(uint64_t **a, size_t *n, size_t *cap, uint64_t v)
{
	if (*n == *cap) {
		size_t ncap = *cap ? 2 * *cap : 64;
		uint64_t *na = realloc(*a, ncap * sizeof(*na));
		if (!na)
			return -ENOMEM;
		*a = na;
		*cap = ncap;
	}
	(*a)[(*n)++] = v;
	return 0;
}

/* Calls fn for each write of steps [from, to) of the chunk, in order; stops at fn's first nonzero. */
static int chunk_each_write(struct trace *t, struct chunk *c, uint64_t from, uint64_t to,
                            int (*fn)(void *arg, uint64_t gpa, uint64_t len, const uint8_t *data), void *arg)
{
	for (uint64_t j = from - c->first; j < to - c->first; j++) {
		struct rd r = {c->raw + c->wmeta_off[j], c->raw + c->wmeta_off[j + 1]};
		const uint8_t *data = c->raw + c->wdata_off[j];
		uint64_t nw, gpa, len;
		if (rd_varint(&r, &nw))
			return chunk_bad(t, c, c->first + j, c->first, "write count");
		for (uint64_t w = 0; w < nw; w++) {
			if (rd_varint(&r, &gpa) || rd_varint(&r, &len))
				return chunk_bad(t, c, c->first + j, c->first, "write");
			int rc = fn(arg, gpa, len, data);
			if (rc)
				return rc;
			data += len;
		}
	}
	return 0;
}

static int note_written(void *arg, uint64_t gpa, uint64_t len, const uint8_t *data)
{
	struct chunk *c = arg;
	(void)data;
	for (uint64_t p = gpa >> TRACE_PAGE_SHIFT; len && p <= (gpa + len - 1) >> TRACE_PAGE_SHIFT; p++) {
		if (c->n_written && c->written[c->n_written - 1] == p)
			continue;
		int rc = u64_push(&c->written, &c->n_written, &c->cap_written, p);
		if (rc)
			return rc;
	}
	return 0;
}

int chunk_writes_page(struct trace *t, struct chunk *c, uint64_t page, bool *writes)
{
	if (!c->written_built) {
		c->n_written = 0;
		int rc = chunk_each_write(t, c, c->first, c->first + c->n, note_written, c);
		if (rc)
			return rc;
		if (c->n_written)
			qsort(c->written, c->n_written, sizeof(*c->written), cmp_u64);
		size_t n = 0;
		for (size_t i = 0; i < c->n_written; i++)
			if (!n || c->written[n - 1] != c->written[i])
				c->written[n++] = c->written[i];
		c->n_written = n;
		c->written_built = true;
	}
	*writes = c->n_written && bsearch(&page, c->written, c->n_written, sizeof(*c->written), cmp_u64);
	return 0;
}

struct page_replay {
	uint64_t start;
	uint8_t *buf;
};

static int copy_into_page(void *arg, uint64_t gpa, uint64_t len, const uint8_t *data)
{
	const struct page_replay *pr = arg;
	uint64_t pend = pr->start + TRACE_PAGE_SIZE;
	uint64_t lo = gpa > pr->start ? gpa : pr->start, hi = gpa + len < pend ? gpa + len : pend;
	if (lo < hi)
		memcpy(pr->buf + (lo - pr->start), data + (lo - gpa), hi - lo);
	return 0;
}

int chunk_replay_page(struct trace *t, struct chunk *c, uint64_t from, uint64_t to, uint64_t page,
                      uint8_t *buf)
{
	if (from < c->first || to > c->first + c->n)
		return trace_set_err(t, -ERANGE, "step %llu: replay outside its chunk",
		                     (unsigned long long)from);
	struct page_replay pr = {page << TRACE_PAGE_SHIFT, buf};
	return chunk_each_write(t, c, from, to, copy_into_page, &pr);
}
