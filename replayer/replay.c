/* The replay loop. The replayer keeps its own image of guest memory as the trace
 * has it before the current step; each backend has a list of ranges where its
 * memory may differ from that image (what it wrote, what the recording wrote),
 * rewritten from the image before the backend's next step. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../emu/emu.h"
#include "../vmx-shim/shim.h"
#include "../x86/x86_paging.h"
#include "fetch_tlb.h"
#include "replay_private.h"

struct range {
	uint64_t gpa, len;
};

struct img_region {
	uint64_t gpa, len;
	bool rom;
	uint8_t *mem;
	uint8_t *used; /* a bit per page ever written: the others are still calloc's zeros */
};

static bool page_used(const struct img_region *g, uint64_t off)
{
	uint64_t pn = off / TRACE_PAGE_SIZE;
	return g->used[pn / 8] & (1u << (pn % 8));
}

static void mark_used(struct img_region *g, uint64_t off, uint64_t len)
{
	for (uint64_t pn = off / TRACE_PAGE_SIZE; pn <= (off + len - 1) / TRACE_PAGE_SIZE; pn++)
		g->used[pn / 8] |= (uint8_t)(1u << (pn % 8));
}

static const uint8_t zero_page[TRACE_PAGE_SIZE];

struct rbackend {
	const struct backend_ops *ops;
	struct backend *b;
	struct range *dirty;
	size_t n_dirty, cap_dirty;
	bool full_refresh; /* rewrite all of memory before the next step */
	bool synced;       /* memory written once (before that it is the zeros the backend opened with) */
	bool need_state;   /* load the recorded pre-state before the next step */
	struct backend_result res;
	struct backend_result sub; /* one more instruction or iteration, run on to the reference's boundary */
	struct backend_result run; /* the step and the ones run on after it, as one result */
};

/* A step copied out of the iterator, whose pointers die at the next call. */
struct owned_step {
	struct trace_step s;
	struct trace_write *writes;
	size_t cap_writes;
	uint8_t *data;
	size_t cap_data;
	struct trace_input *inputs;
	size_t cap_inputs;
};

struct replayer {
	const struct replay_options *opt;
	struct replay_summary *sum;
	char *err;
	size_t errlen;
	struct trace *t;
	struct trace_iter *it;
	struct img_region *regions;
	size_t n_regions;
	struct backend_region *bregions;
	uint32_t (*cpuid)[6];
	size_t n_cpuid;
	struct rbackend bk[REPLAY_MAX_BACKENDS];
	size_t n_bk;
	struct trace_exit *exits;
	size_t n_exits, cap_exits, exit_hint;
	struct trace_event *events;
	size_t n_events, cap_events, event_hint;
	struct differ_rules *rules;
	struct differ_reference *reference_rules;
	struct differ_known *known;
	struct differ_results *results;
	bool img_stale;
	/* The pages a RUN step changed, to reload into the image before the next INSN step: the trace stores
	 * them anew at the following step. stale_all: too many, reload all. */
	uint64_t *stale_pages;
	size_t n_stale, cap_stale;
	bool stale_all;
	uint8_t *scratch;
	struct owned_step slot[2];
	struct owned_step *cur, *nx; /* the step being replayed and the one after it, swapped by pointer */
	struct differ_divergence div;
	struct x86_state last_state;     /* the state after the last step of the trace */
	struct trace_input *step_inputs; /* a step's inputs with those read off its post-state */
	size_t cap_step_inputs;
	struct fetch_tlb tlb;
};

#define SCRATCH_BYTES (1u << 20)

/* Every change to the image comes through here. */
static void image_written(struct replayer *r, struct img_region *g, uint64_t off, uint64_t len)
{
	mark_used(g, off, len);
	fetch_tlb_note_write(&r->tlb, g->gpa + off, len);
}

void replay_reference(struct trace *t, char *buf, size_t len)
{
	if (!len)
		return;
	if (trace_meta_get(t, "reference", buf, len) < 0 || !buf[0])
		snprintf(buf, len, "unknown");
}

int replay_parse_shard(const char *s, unsigned *k, unsigned *n)
{
	char *end;
	unsigned long a, b;
	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	a = strtoul(s, &end, 10);
	if (*end != '/' || end[1] < '0' || end[1] > '9')
		return -EINVAL;
	b = strtoul(end + 1, &end, 10);
	if (*end || a < 1 || b < 1 || a > b || b > 1000000)
		return -EINVAL;
	*k = (unsigned)a;
	*n = (unsigned)b;
	return 0;
}

static bool parse_index(const char *text, long long *out)
{
	char *end;
	if (!text || *text < '0' || *text > '9')
		return false;
	errno = 0;
	*out = strtoll(text, &end, 10);
	return !*end && !errno;
}

int replay_parse_shard_auto(const char *s, unsigned *k, unsigned *n, char *from, size_t fromlen, char *err,
                            size_t errlen)
{
	/* Each engine's variable and the index it gives to shard 1. */
	static const struct {
		const char *var, *base_var;
		long long base;
	} engines[] = {
	    {"EMUDIFF_SHARD_INDEX", NULL, 0},
	    {"SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_MIN", 0},
	    {"CI_NODE_INDEX", NULL, 1},
	    {"JOB_COMPLETION_INDEX", NULL, 0},
	};
	from[0] = err[0] = '\0';
	if (strncmp(s, "auto/", 5) != 0) {
		if (replay_parse_shard(s, k, n) == 0)
			return 0;
		snprintf(err, errlen, "--shard: expected K/N with 1 <= K <= N, or auto/N, got %s", s);
		return -EINVAL;
	}
	char one[32];
	snprintf(one, sizeof(one), "1/%s", s + 5);
	if (replay_parse_shard(one, k, n) < 0) {
		snprintf(err, errlen, "--shard: expected auto/N with N >= 1, got %s", s);
		return -EINVAL;
	}
	for (size_t i = 0; i < sizeof(engines) / sizeof(engines[0]); i++) {
		const char *text = getenv(engines[i].var), *base_text = NULL;
		long long index, base = engines[i].base;
		if (!text || !text[0])
			continue;
		if (engines[i].base_var && (base_text = getenv(engines[i].base_var)) && base_text[0] &&
		    !parse_index(base_text, &base)) {
			snprintf(err, errlen, "--shard %s: %s=%s is not a number", s, engines[i].base_var,
			         base_text);
			return -EINVAL;
		}
		if (!parse_index(text, &index) || index < base || index - base >= (long long)*n) {
			snprintf(err, errlen, "--shard %s: %s=%s gives no shard of %u (want %lld..%lld%s%s)",
			         s, engines[i].var, text, *n, base, base + *n - 1,
			         base_text ? ": the array's first index is " : "",
			         base_text ? base_text : "");
			return -EINVAL;
		}
		*k = (unsigned)(index - base) + 1;
		if (base_text)
			snprintf(from, fromlen, "%s=%s, %s=%s", engines[i].var, text, engines[i].base_var,
			         base_text);
		else
			snprintf(from, fromlen, "%s=%s", engines[i].var, text);
		return 0;
	}
	snprintf(
	    err, errlen,
	    "--shard %s: no shard index in the environment: set EMUDIFF_SHARD_INDEX (0-based), or run as a "
	    "Slurm array task (SLURM_ARRAY_TASK_ID), GitLab parallel job (CI_NODE_INDEX) or Kubernetes "
	    "Indexed Job (JOB_COMPLETION_INDEX)",
	    s);
	return -EINVAL;
}

void replay_shard_range(uint64_t first, uint64_t end, unsigned k, unsigned n, uint64_t *lo, uint64_t *hi)
{
	uint64_t total = end > first ? end - first : 0;
	if (!n) {
		*lo = first;
		*hi = first + total;
		return;
	}
	/* Split without overflow: floor(total * i / n) = q*i + floor(r*i/n). */
	uint64_t q = total / n, r = total % n;
	*lo = first + q * (k - 1) + r * (k - 1) / n;
	*hi = first + q * k + r * k / n;
}

static int fail(struct replayer *r, int ret, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Leaves the one-line message for the caller and returns ret. */
static int fail(struct replayer *r, int ret, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->err, r->errlen, fmt, ap);
	va_end(ap);
	return ret;
}

/* Memory layout from the trace's meta: "ram 0x0-0xN" / "rom A-B" entries of memory_layout, else ram_bytes. */
static int add_region(struct replayer *r, uint64_t gpa, uint64_t len, bool rom)
{
	struct img_region *n = realloc(r->regions, (r->n_regions + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	r->regions = n;
	n[r->n_regions] = (struct img_region){.gpa = gpa, .len = len, .rom = rom};
	n[r->n_regions].mem = calloc(1, len ? len : 1);
	n[r->n_regions].used = calloc(1, len / TRACE_PAGE_SIZE / 8 + 1);
	if (!n[r->n_regions].mem || !n[r->n_regions].used)
		return -ENOMEM;
	r->n_regions++;
	return 0;
}

static int load_layout(struct replayer *r)
{
	char layout[1024], buf[64];
	int ret;
	if (trace_meta_get(r->t, "memory_layout", layout, sizeof(layout)) == 0) {
		for (char *tok = strtok(layout, ";"); tok; tok = strtok(NULL, ";")) {
			char kind[16];
			unsigned long long a, b;
			while (*tok == ' ')
				tok++;
			/* "ram A-B", "rom A-B", or a word before them ("firmware rom A-B (read-only)"). */
			if ((sscanf(tok, "%15s %llx-%llx", kind, &a, &b) != 3 &&
			     sscanf(tok, "%*s %15s %llx-%llx", kind, &a, &b) != 3) ||
			    b <= a)
				continue;
			if (strcmp(kind, "ram") && strcmp(kind, "rom"))
				continue;
			ret = add_region(r, a, b - a, !strcmp(kind, "rom"));
			if (ret < 0)
				return ret;
		}
	}
	if (!r->n_regions && trace_meta_get(r->t, "ram_bytes", buf, sizeof(buf)) == 0) {
		unsigned long long n = strtoull(buf, NULL, 0);
		if (n) {
			ret = add_region(r, 0, n, false);
			if (ret < 0)
				return ret;
		}
	}
	if (!r->n_regions)
		return fail(r, -EINVAL, "%s: the trace's meta has no memory layout (ram_bytes)",
		            r->opt->trace_path);
	r->bregions = calloc(r->n_regions, sizeof(*r->bregions));
	if (!r->bregions)
		return -ENOMEM;
	for (size_t i = 0; i < r->n_regions; i++)
		r->bregions[i] = (struct backend_region){
		    .gpa = r->regions[i].gpa, .len = r->regions[i].len, .rom = r->regions[i].rom};
	return 0;
}

/* The recording's CPUID table from meta "cpuid". */
static int load_cpuid(struct replayer *r)
{
	return trace_cpuid_table(r->t, &r->cpuid, &r->n_cpuid);
}

/* Room for element n of a doubling array (first: the first capacity); -ENOMEM when out of memory. */
static int reserve(void *array, size_t n, size_t *cap, size_t size, size_t first)
{
	void **v = array;
	if (n < *cap)
		return 0;
	size_t grown = *cap ? *cap * 2 : first;
	void *p = realloc(*v, grown * size);
	if (!p)
		return -ENOMEM;
	*v = p;
	*cap = grown;
	return 0;
}

static int collect_exit(void *arg, const struct trace_exit *e)
{
	struct replayer *r = arg;
	if (reserve(&r->exits, r->n_exits, &r->cap_exits, sizeof(*e), 256) < 0)
		return -ENOMEM;
	r->exits[r->n_exits++] = *e;
	return 0;
}

static int collect_event(void *arg, const struct trace_event *e)
{
	struct replayer *r = arg;
	if (reserve(&r->events, r->n_events, &r->cap_events, sizeof(*e), 64) < 0)
		return -ENOMEM;
	r->events[r->n_events++] = *e;
	return 0;
}

/* The recorded exits of a step, in order: the first, and their number in *n. */
/* The step number of row i of an array of exits or events. */
static uint64_t row_step(const void *rows, size_t size, size_t offset, size_t i)
{
	uint64_t step;
	memcpy(&step, (const uint8_t *)rows + i * size + offset, sizeof(step));
	return step;
}

/* The first row whose step is at or after `step`: forward from the last answer (replay runs forward, and
 * most steps have neither exit nor event), else bisected. */
static size_t first_row_at(const void *rows, size_t n, size_t size, size_t offset, uint64_t step,
                           size_t *hint)
{
	size_t lo = 0, hi = n;
	if (*hint <= n && (*hint == 0 || row_step(rows, size, offset, *hint - 1) < step)) {
		lo = *hint;
		for (unsigned probe = 0; probe < 8 && lo < n && row_step(rows, size, offset, lo) < step;
		     probe++)
			lo++;
		if (lo == n || row_step(rows, size, offset, lo) >= step)
			hi = lo;
	}
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (row_step(rows, size, offset, mid) < step)
			lo = mid + 1;
		else
			hi = mid;
	}
	*hint = lo;
	return lo;
}

static const struct trace_exit *exits_of(struct replayer *r, uint64_t step, uint32_t *n)
{
	size_t lo = first_row_at(r->exits, r->n_exits, sizeof(*r->exits), offsetof(struct trace_exit, step),
	                         step, &r->exit_hint);
	uint32_t k = 0;
	while (lo + k < r->n_exits && r->exits[lo + k].step == step)
		k++;
	*n = k;
	return k ? &r->exits[lo] : NULL;
}

static const struct trace_event *event_of(struct replayer *r, uint64_t step)
{
	size_t lo = first_row_at(r->events, r->n_events, sizeof(*r->events),
	                         offsetof(struct trace_event, step), step, &r->event_hint);
	return lo < r->n_events && r->events[lo].step == step ? &r->events[lo] : NULL;
}

/* Makes o own the arrays of o->s (filled by trace_iter_next, whose pointers die at the next call). */
static int own_step(struct owned_step *o)
{
	const struct trace_step *s = &o->s;
	size_t bytes = 0;
	for (uint32_t i = 0; i < s->n_writes; i++)
		bytes += s->writes[i].len;
	if (s->n_writes > o->cap_writes) {
		struct trace_write *n = realloc(o->writes, s->n_writes * sizeof(*n));
		if (!n)
			return -ENOMEM;
		o->writes = n;
		o->cap_writes = s->n_writes;
	}
	if (bytes > o->cap_data) {
		uint8_t *n = realloc(o->data, bytes);
		if (!n)
			return -ENOMEM;
		o->data = n;
		o->cap_data = bytes;
	}
	if (s->n_inputs > o->cap_inputs) {
		struct trace_input *n = realloc(o->inputs, s->n_inputs * sizeof(*n));
		if (!n)
			return -ENOMEM;
		o->inputs = n;
		o->cap_inputs = s->n_inputs;
	}
	size_t off = 0;
	for (uint32_t i = 0; i < s->n_writes; i++) {
		o->writes[i] = s->writes[i];
		if (s->writes[i].len)
			memcpy(o->data + off, s->writes[i].data, s->writes[i].len);
		o->writes[i].data = o->data + off;
		off += s->writes[i].len;
	}
	if (s->n_inputs)
		memcpy(o->inputs, s->inputs, s->n_inputs * sizeof(*o->inputs));
	o->s.writes = o->writes;
	o->s.inputs = o->inputs;
	return 0;
}

static void free_step(struct owned_step *o)
{
	free(o->writes);
	free(o->data);
	free(o->inputs);
}

static struct img_region *img_region_of(struct replayer *r, uint64_t gpa)
{
	for (size_t i = 0; i < r->n_regions; i++)
		if (gpa >= r->regions[i].gpa && gpa - r->regions[i].gpa < r->regions[i].len)
			return &r->regions[i];
	return NULL;
}

/* Reads the image; bytes outside every region read as zero (and return -EFAULT). */
static int img_read(void *arg, uint64_t gpa, void *buf, size_t len)
{
	struct replayer *r = arg;
	uint8_t *p = buf;
	int ret = 0;
	while (len) {
		struct img_region *g = img_region_of(r, gpa);
		size_t n = 1;
		if (g) {
			n = g->len - (gpa - g->gpa);
			if (n > len)
				n = len;
			memcpy(p, g->mem + (gpa - g->gpa), n);
		} else {
			*p = 0;
			ret = -EFAULT;
		}
		gpa += n, p += n, len -= n;
	}
	return ret;
}

static void img_write(struct replayer *r, uint64_t gpa, const uint8_t *data, size_t len)
{
	while (len) {
		struct img_region *g = img_region_of(r, gpa);
		size_t n = 1;
		if (g) {
			n = g->len - (gpa - g->gpa);
			if (n > len)
				n = len;
			memcpy(g->mem + (gpa - g->gpa), data, n);
			image_written(r, g, gpa - g->gpa, n);
		}
		gpa += n, data += n, len -= n;
	}
}

static int add_dirty(struct rbackend *bk, uint64_t gpa, uint64_t len)
{
	if (bk->full_refresh || !len)
		return 0;
	if (bk->n_dirty) {
		struct range *last = &bk->dirty[bk->n_dirty - 1];
		if (gpa >= last->gpa && gpa + len <= last->gpa + last->len)
			return 0;
		if (gpa == last->gpa + last->len) {
			last->len += len;
			return 0;
		}
	}
	if (bk->n_dirty == bk->cap_dirty) {
		/* Past this many ranges one full rewrite is cheaper. */
		if (bk->cap_dirty >= 65536) {
			bk->full_refresh = true;
			bk->n_dirty = 0;
			return 0;
		}
		if (reserve(&bk->dirty, bk->n_dirty, &bk->cap_dirty, sizeof(*bk->dirty), 64) < 0)
			return -ENOMEM;
	}
	bk->dirty[bk->n_dirty++] = (struct range){gpa, len};
	return 0;
}

/* Brings a backend's memory back to the image. */
static int sync_backend_memory(struct replayer *r, struct rbackend *bk)
{
	int ret;
	if (bk->full_refresh) {
		for (size_t i = 0; i < r->n_regions; i++) {
			struct img_region *g = &r->regions[i];
			/* A backend opens with zeroed memory: the first time, only pages ever written. */
			for (uint64_t off = 0; off < g->len;) {
				uint64_t end = off;
				while (end < g->len && (bk->synced || page_used(g, end)))
					end += TRACE_PAGE_SIZE - (end % TRACE_PAGE_SIZE);
				if (end > g->len)
					end = g->len;
				if (end > off) {
					ret =
					    bk->ops->write_mem(bk->b, g->gpa + off, g->mem + off, end - off);
					if (ret < 0)
						return ret;
					off = end;
				} else {
					off += TRACE_PAGE_SIZE - (off % TRACE_PAGE_SIZE);
				}
			}
		}
		bk->full_refresh = false;
		bk->synced = true;
		bk->n_dirty = 0;
		return 0;
	}
	for (size_t i = 0; i < bk->n_dirty; i++) {
		uint64_t gpa = bk->dirty[i].gpa, len = bk->dirty[i].len;
		while (len) {
			struct img_region *g = img_region_of(r, gpa);
			uint64_t n = 1;
			if (g) {
				n = g->len - (gpa - g->gpa);
				if (n > len)
					n = len;
				ret = bk->ops->write_mem(bk->b, gpa, g->mem + (gpa - g->gpa), n);
				if (ret < 0)
					return ret;
			}
			gpa += n, len -= n;
		}
	}
	bk->n_dirty = 0;
	return 0;
}

/* Reloads the image from the iterator (memory before the step it returned last);
 * pages that changed become dirty for every backend. */
static int refresh_image(struct replayer *r, bool all_dirty)
{
	int ret;
	for (size_t i = 0; i < r->n_regions; i++) {
		struct img_region *g = &r->regions[i];
		for (uint64_t off = 0; off < g->len; off += SCRATCH_BYTES) {
			uint64_t n = g->len - off < SCRATCH_BYTES ? g->len - off : SCRATCH_BYTES;
			ret = trace_iter_memory(r->it, g->gpa + off, r->scratch, n);
			if (ret < 0)
				return fail(r, ret, "%s: cannot read guest memory: %s", r->opt->trace_path,
				            trace_error(r->t));
			for (uint64_t p = 0; p < n; p += TRACE_PAGE_SIZE) {
				uint64_t pl = n - p < TRACE_PAGE_SIZE ? n - p : TRACE_PAGE_SIZE;
				/* A page never written is zero: comparing it would only fault it in. */
				if (!page_used(g, off + p) ? !memcmp(zero_page, r->scratch + p, pl)
				                           : !memcmp(g->mem + off + p, r->scratch + p, pl))
					continue;
				memcpy(g->mem + off + p, r->scratch + p, pl);
				image_written(r, g, off + p, pl);
				if (all_dirty)
					continue;
				for (size_t k = 0; k < r->n_bk; k++) {
					ret = add_dirty(&r->bk[k], g->gpa + off + p, pl);
					if (ret < 0)
						return ret;
				}
			}
		}
	}
	r->img_stale = false;
	return 0;
}

/* Past this many pages one pass over the whole image is cheaper. */
#define STALE_PAGES_MAX 65536u

/* Notes the pages the trace stores anew before the step just read (what a RUN step wrote). */
static int note_stored_pages(struct replayer *r)
{
	const uint64_t *pages;
	size_t n = trace_iter_stored_pages(r->it, &pages);
	if (r->stale_all || !n)
		return 0;
	if (r->n_stale + n > STALE_PAGES_MAX) {
		r->stale_all = true;
		r->n_stale = 0;
		return 0;
	}
	while (r->n_stale + n > r->cap_stale)
		if (reserve(&r->stale_pages, r->cap_stale, &r->cap_stale, sizeof(*r->stale_pages), 256) < 0)
			return -ENOMEM;
	memcpy(r->stale_pages + r->n_stale, pages, n * sizeof(*pages));
	r->n_stale += n;
	return 0;
}

/* Brings the image to memory before the iterator's step after RUN steps: the pages they changed, or all. */
static int refresh_stale(struct replayer *r)
{
	int ret;
	if (r->stale_all) {
		r->stale_all = false;
		return refresh_image(r, false);
	}
	for (size_t i = 0; i < r->n_stale; i++) {
		uint64_t gpa = r->stale_pages[i] * TRACE_PAGE_SIZE;
		struct img_region *g = img_region_of(r, gpa);
		if (!g)
			continue;
		uint64_t off = gpa - g->gpa,
		         n = g->len - off < TRACE_PAGE_SIZE ? g->len - off : TRACE_PAGE_SIZE;
		ret = trace_iter_memory(r->it, gpa, r->scratch, n);
		if (ret < 0)
			return fail(r, ret, "%s: cannot read guest memory: %s", r->opt->trace_path,
			            trace_error(r->t));
		if (!memcmp(g->mem + off, r->scratch, n))
			continue;
		memcpy(g->mem + off, r->scratch, n);
		image_written(r, g, off, n);
		for (size_t k = 0; k < r->n_bk; k++) {
			ret = add_dirty(&r->bk[k], gpa, n);
			if (ret < 0)
				return ret;
		}
	}
	r->n_stale = 0;
	r->img_stale = false;
	return 0;
}

static void set_progress(struct replayer *r, uint64_t done, uint64_t total)
{
	if (r->opt->progress)
		r->opt->progress(r->opt->progress_arg, done, total);
}

static unsigned fetch_insn(struct replayer *r, const struct x86_state *st, uint8_t insn[16])
{
	struct img_region *ram = img_region_of(r, 0);
	enum x86_mode mode = x86_state_mode(st);
	uint64_t linear = st->seg[X86_CS].base + st->rip;
	unsigned got = 0;
	if (mode != X86_MODE_LONG64)
		linear &= 0xffffffffu;
	memset(insn, 0, 16);
	while (got < 15) {
		uint64_t gpa = linear + got;
		if (st->cr0 & X86_CR0_PG) {
			if (!ram || ram->rom ||
			    !fetch_tlb_translate(&r->tlb, st, ram->mem, ram->len, linear + got, &gpa))
				break;
		}
		unsigned chunk = TRACE_PAGE_SIZE - (unsigned)(gpa & (TRACE_PAGE_SIZE - 1));
		if (chunk > 15 - got)
			chunk = 15 - got;
		if (img_read(r, gpa, insn + got, chunk) < 0)
			break;
		got += chunk;
	}
	return got;
}

/* Files one divergence: known list, results database, summary. The recording's own artefact (a ref.* class)
 * is filed as expected, never new. */
static int record_divergence(struct replayer *r, struct differ_divergence *d, bool reference_artefact,
                             bool *is_new)
{
	bool known = reference_artefact || (r->known && differ_known_match(r->known, d));
	int ret = 0;
	if (reference_artefact)
		r->sum->reference_artefacts++;
	if (r->results) {
		ret = differ_results_add(r->results, d, known);
		if (ret < 0)
			return fail(r, ret, "%s: cannot write the results database", r->opt->results_path);
	}
	r->sum->divergences++;
	if (!known) {
		r->sum->new_divergences++;
		if (!r->sum->have_first) {
			r->sum->have_first = true;
			r->sum->first_divergence = *d;
		}
	}
	*is_new = !known;
	return 0;
}

/* Whether a backend's state is at the recorded step's end: a REP chunk's count, or the instruction pointer.
 */
static bool at_boundary(const struct x86_state *st, const struct x86_state *expected,
                        enum differ_ref_action action)
{
	if (action == DIFFER_REF_ITERATE)
		return st->gpr[X86_RCX] == expected->gpr[X86_RCX];
	return st->rip == expected->rip && st->seg[X86_CS].selector == expected->seg[X86_CS].selector;
}

/* Adds what one more instruction or iteration did to the result of the run so far. */
static void merge_result(struct backend_result *run, const struct backend_result *one)
{
	run->post = one->post;
	const uint8_t *u = (const uint8_t *)&one->unobserved;
	uint8_t *ru = (uint8_t *)&run->unobserved;
	for (size_t i = 0; i < sizeof(run->unobserved); i++)
		ru[i] |= u[i];
	for (uint32_t w = 0; w < one->n_writes; w++)
		backend_result_add_write(run, one->writes[w].gpa, one->writes[w].data, one->writes[w].len,
		                         true);
	run->writes_overflow |= one->writes_overflow;
	for (uint32_t p = 0; p < one->n_ports && run->n_ports < BACKEND_MAX_PORTS; p++)
		run->ports[run->n_ports++] = one->ports[p];
}

/* The reference's step ran more than the backend's (differ/reference.tsv): runs the backend on from its
 * post-state, an instruction or a REP iteration at a time, to the recorded boundary. 1 with the whole run
 * in bk->run when it got there; 0 when it did not (bk->res stays the step's result). */
static int run_on(struct replayer *r, struct rbackend *bk, const struct trace_step *s,
                  const struct x86_state *expected, const struct backend_step_input *in,
                  const struct differ_ref_rule *rule)
{
	struct backend_step_input more = *in;
	struct backend_result *run = &bk->run, *one = &bk->sub;
	int ret;

	more.continued = true;
	more.event = NULL;
	*run = bk->res;
	for (unsigned n = 0; n < rule->limit && !at_boundary(&run->post, expected, rule->action); n++) {
		/* A REP chunk ends on its own instruction; past it the backend went elsewhere. */
		if (rule->action == DIFFER_REF_ITERATE && run->post.rip != s->pre.rip)
			return 0;
		ret = bk->ops->step(bk->b, &more, one);
		if (ret < 0)
			return fail(r, ret,
			            "%s backend: running step %" PRIu64 " on to the recorded boundary failed",
			            bk->ops->name, s->index);
		if (one->writes_overflow)
			bk->full_refresh = true;
		for (uint32_t w = 0; w < one->n_writes; w++) {
			ret = add_dirty(bk, one->writes[w].gpa, one->writes[w].len);
			if (ret < 0)
				return ret;
		}
		if (one->outcome != BACKEND_STEPPED)
			return 0;
		merge_result(run, one);
	}
	if (!at_boundary(&run->post, expected, rule->action))
		return 0;
	r->sum->run_on_steps++;
	return 1;
}

/* Cheap test before decoding: prefixes (and REX) then 0F A2, 0F 31 or 0F 32. */
static bool may_take_input(const uint8_t *insn, unsigned avail)
{
	for (unsigned i = 0; i + 1 < avail; i++) {
		uint8_t b = insn[i];
		if (b == 0x0f)
			return insn[i + 1] == 0xa2 || insn[i + 1] == 0x31 || insn[i + 1] == 0x32;
		switch (b) {
		case 0x26:
		case 0x2e:
		case 0x36:
		case 0x3e:
		case 0x64:
		case 0x65:
		case 0x66:
		case 0x67:
		case 0xf0:
		case 0xf2:
		case 0xf3:
			continue;
		default:
			if ((b & 0xf0) != 0x40)
				return false;
		}
	}
	return false;
}

/* A trace recorded before CPUID, RDTSC and RDMSR results were inputs has them only in the post-state: they
 * are taken from there (as the recorder now does), said once per kind. Points in->inputs at the step's
 * inputs with that one added. */
static int add_input_from_post(struct replayer *r, const struct trace_step *s,
                               const struct x86_state *expected, const uint8_t *insn, unsigned avail,
                               struct backend_step_input *in)
{
	static const uint8_t kinds[] = {[EMU_INSN_INPUT_CPUID] = TRACE_INPUT_CPUID,
	                                [EMU_INSN_INPUT_RDTSC] = TRACE_INPUT_RDTSC,
	                                [EMU_INSN_INPUT_RDMSR] = TRACE_INPUT_RDMSR};
	static const uint8_t noted[] = {[EMU_INSN_INPUT_CPUID] = REPLAY_INPUT_CPUID,
	                                [EMU_INSN_INPUT_RDTSC] = REPLAY_INPUT_RDTSC,
	                                [EMU_INSN_INPUT_RDMSR] = REPLAY_INPUT_RDMSR};
	struct emu_insn_input x;

	if (!may_take_input(insn, avail) || !emu_insn_input_from_post(insn, avail, &s->pre, expected, &x))
		return 0;
	for (uint32_t i = 0; i < s->n_inputs; i++)
		if (s->inputs[i].kind == kinds[x.kind])
			return 0;
	while (s->n_inputs >= r->cap_step_inputs)
		if (reserve(&r->step_inputs, s->n_inputs, &r->cap_step_inputs, sizeof(*r->step_inputs), 16) <
		    0)
			return -ENOMEM;
	if (s->n_inputs)
		memcpy(r->step_inputs, s->inputs, s->n_inputs * sizeof(*s->inputs));
	struct trace_input *t = &r->step_inputs[s->n_inputs];
	*t = (struct trace_input){.kind = kinds[x.kind], .size = (uint8_t)x.size, .count = 1, .addr = x.addr};
	memcpy(t->data, x.data, sizeof(t->data));
	in->inputs = r->step_inputs;
	in->n_inputs = s->n_inputs + 1;
	uint64_t *first = &r->sum->input_from_post_first[noted[x.kind]];
	if (s->index < *first)
		*first = s->index;
	return 0;
}

/* One INSN step on every backend. Returns 1 to stop (stop_at_first or on_step), 0 to go on. */
static int run_insn_step(struct replayer *r, const struct trace_step *s, const struct x86_state *expected)
{
	uint8_t insn[16];
	unsigned avail = fetch_insn(r, &s->pre, insn);
	enum x86_mode mode = x86_state_mode(&s->pre);
	/* Decoded only for a step that may diverge (or is reported step by step): most match exactly. */
	unsigned len = 0;
	uint64_t undefined_rflags = 0;
	bool decoded = false;
	struct backend_step_input in = {
	    .step = s->index, .inputs = s->inputs, .n_inputs = s->n_inputs, .event = event_of(r, s->index)};
	int stop = 0, ret;
	uint32_t n_exits = 0;
	const struct trace_exit *exits = exits_of(r, s->index, &n_exits);

	in.expected = expected;
	ret = add_input_from_post(r, s, expected, insn, avail, &in);
	if (ret < 0)
		return ret;

	for (size_t k = 0; k < r->n_bk; k++) {
		struct rbackend *bk = &r->bk[k];
		struct backend_result *res = &bk->res;
		const struct differ_ref_rule *rule = NULL;
		if (!r->opt->continuous || bk->need_state) {
			ret = bk->ops->set_state(bk->b, &s->pre);
			if (ret < 0)
				return fail(r, ret,
				            "%s backend: cannot load the recorded state of step %" PRIu64,
				            bk->ops->name, s->index);
			bk->need_state = false;
		}
		ret = sync_backend_memory(r, bk);
		if (ret < 0)
			return fail(r, ret, "%s backend: cannot write guest memory", bk->ops->name);
		ret = bk->ops->step(bk->b, &in, res);
		if (ret < 0) {
			memset(res, 0, sizeof(*res));
			res->outcome = BACKEND_FAILED;
			res->post = s->pre;
			snprintf(res->reason, sizeof(res->reason), "%s backend failed: %s", bk->ops->name,
			         strerror(-ret));
		}
		switch (res->outcome) {
		case BACKEND_UNSUPPORTED:
			r->sum->unsupported++;
			break;
		case BACKEND_CRASH:
			r->sum->crashes++;
			break;
		case BACKEND_FAILED:
			r->sum->failures++;
			break;
		default:
			break;
		}
		if (r->results && differ_results_count_step(r->results, bk->ops->name, res->outcome) < 0)
			return fail(r, -EIO, "%s: cannot write the results database", r->opt->results_path);

		struct differ_input din = {
		    .step = s->index,
		    .backend = bk->ops->name,
		    .mode = mode,
		    .cpl = x86_state_cpl(&s->pre),
		    .insn = insn,
		    .insn_len = avail,
		    .pre = &s->pre,
		    .expected = expected,
		    .expected_writes = s->writes,
		    .n_expected_writes = s->n_writes,
		    .expected_exit = exits,
		    .expected_exits = exits,
		    .n_expected_exits = n_exits,
		    .actual = res,
		    .undefined_rflags = 0,
		    .reference = r->sum->reference,
		    .read_pre_mem = img_read,
		    .mem_arg = r,
		};
		struct differ_divergence *d = &r->div;
		int diverged = 0;
		if (r->opt->on_step || !differ_matches_exactly(&din)) {
			if (!decoded) {
				len = emu_insn_length(insn, avail, mode);
				undefined_rflags = len ? emu_undefined_flags(insn, len, &s->pre) : 0;
				decoded = true;
			}
			din.insn_len = len ? len : avail;
			din.undefined_rflags = undefined_rflags;
			diverged = differ_compare(r->rules, &din, d);
		}
		if (diverged < 0)
			return fail(r, diverged, "%s: the differ failed on a step", r->opt->trace_path);
		if (diverged && res->outcome == BACKEND_STEPPED)
			rule = differ_reference_find(r->reference_rules, r->sum->reference, d->cls);
		/* The reference's step ran further: the backend runs on to the same boundary, and is compared
		 * there, so a real divergence within the step is still found. */
		if (rule) {
			ret = run_on(r, bk, s, expected, &in, rule);
			if (ret < 0)
				return ret;
			if (ret == 1) {
				res = &bk->run;
				din.actual = res;
				diverged = differ_compare(r->rules, &din, d);
				if (diverged < 0)
					return fail(r, diverged, "%s: the differ failed on a step",
					            r->opt->trace_path);
			}
		}
		bool reference_artefact = diverged && differ_is_tolerated_class(d->cls);
		bool is_new = false;
		if (diverged) {
			ret = record_divergence(r, d, reference_artefact, &is_new);
			if (ret < 0)
				return ret;
			if (is_new && r->opt->stop_at_first)
				stop = 1;
		}
		if (r->opt->on_step) {
			struct replay_step_report rep = {.step = s->index,
			                                 .backend = bk->ops->name,
			                                 .input = &din,
			                                 .result = res,
			                                 .divergence = diverged ? d : NULL,
			                                 .known = diverged && !is_new};
			if (r->opt->on_step(r->opt->on_step_arg, &rep))
				stop = 1;
		}
		/* Memory: what the backend wrote goes back to the recording's bytes. */
		if (res->writes_overflow) {
			bk->full_refresh = true;
		} else {
			for (uint32_t w = 0; w < res->n_writes; w++) {
				ret = add_dirty(bk, res->writes[w].gpa, res->writes[w].len);
				if (ret < 0)
					return ret;
			}
		}
		/* Undefined flags that came out otherwise are right on both sides, but would show later as a
		 * difference in defined flags (a MOV keeps them): the backend takes the recording's. */
		bool undefined_apart = ((res->post.rflags ^ expected->rflags) & din.undefined_rflags) != 0;
		if (r->opt->continuous && (diverged || undefined_apart || res->outcome != BACKEND_STEPPED)) {
			bk->need_state = true;
			r->sum->resyncs++;
		}
	}
	return stop;
}

static void note_backend(struct replay_summary *sum, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A backend dropped as unavailable here: said once after the run, however many workers saw it. */
static void note_backend(struct replay_summary *sum, const char *fmt, ...)
{
	size_t used = strlen(sum->backend_notes);
	va_list ap;
	va_start(ap, fmt);
	if (used + 1 < sizeof(sum->backend_notes)) {
		vsnprintf(sum->backend_notes + used, sizeof(sum->backend_notes) - used, fmt, ap);
		used = strlen(sum->backend_notes);
		if (used + 1 < sizeof(sum->backend_notes))
			strcat(sum->backend_notes, "\n");
	}
	va_end(ap);
}

static int open_backends(struct replayer *r)
{
	struct backend_config cfg = {.regions = r->bregions,
	                             .n_regions = r->n_regions,
	                             .cpuid = (const uint32_t(*)[6])r->cpuid,
	                             .n_cpuid = r->n_cpuid,
	                             .step_over_mov_ss_shadow = !strcmp(r->sum->reference, "silicon") ||
	                                                        !strcmp(r->sum->reference, "qemu-tcg")};
	for (size_t i = 0; i < r->opt->n_backends; i++) {
		const char *name = r->opt->backends[i];
		const struct backend_ops *ops = backend_find(name);
		char berr[256] = "";
		if (!ops && !strcmp(name, "unicorn")) {
			if (!r->opt->optional_backends)
				return fail(r, -ENODEV,
				            "--backends: the %s backend is not built into this emudiff",
				            name);
			note_backend(r->sum, "the %s backend is not built here; replaying without it", name);
			continue;
		}
		if (!ops) {
			return fail(r, -EINVAL, "--backends: unknown backend '%s'; known: emu, unicorn, kvm",
			            name);
		}
		for (size_t j = 0; j < r->n_bk; j++)
			if (r->bk[j].ops == ops)
				return fail(r, -EINVAL, "--backends: '%s' given twice", name);
		if (r->n_bk == REPLAY_MAX_BACKENDS)
			return fail(r, -EINVAL, "--backends: too many backends");
		struct rbackend *bk = &r->bk[r->n_bk];
		int ret = ops->open(&bk->b, &cfg, berr, sizeof(berr));
		if (ret == -ENODEV && r->opt->optional_backends) {
			note_backend(r->sum, "%s; replaying without the %s backend", berr, name);
			continue;
		}
		if (ret < 0)
			return fail(r, ret, "%s", berr[0] ? berr : "a backend failed to open");
		bk->ops = ops;
		bk->full_refresh = true;
		bk->need_state = true;
		snprintf(r->sum->backends[r->n_bk], sizeof(r->sum->backends[0]), "%s", name);
		r->n_bk++;
	}
	r->sum->n_backends = r->n_bk;
	if (!r->n_bk)
		return fail(r, -ENODEV, "no backend is available to replay with");
	return 0;
}

static int replay_loop(struct replayer *r, uint64_t lo, uint64_t hi)
{
	/* Only a reference that runs code natively inside a step needs the rule asked each step. */
	bool reference_runs_native = trace_reference_runs_native(r->sum->reference);
	int ret, got;

	if (lo >= hi)
		return 0;
	ret = trace_iter_start(r->t, lo, &r->it);
	if (ret < 0)
		return fail(r, ret, "%s: %s", r->opt->trace_path, trace_error(r->t));
	got = trace_iter_next(r->it, &r->cur->s);
	if (got <= 0)
		return fail(r, got ? got : -EINVAL, "%s: cannot read the first step: %s", r->opt->trace_path,
		            trace_error(r->t));
	ret = own_step(r->cur);
	if (ret < 0)
		return ret;
	ret = refresh_image(r, true);
	if (ret < 0)
		return ret;

	uint64_t total = hi - lo, done = 0, count = trace_step_count(r->t);
	for (uint64_t i = lo; i < hi; i++) {
		const struct trace_step *c = &r->cur->s;
		const struct x86_state *expected = &r->last_state;
		bool have_next = false;
		/* Interrupted: stop at a step boundary; what was compared so far stays, marked incomplete. */
		if (r->opt->stop && *r->opt->stop) {
			r->sum->interrupted = true;
			r->sum->stopped_at = i;
			return 0;
		}
		/* The step's memory must be exact before it runs. */
		if (r->img_stale && c->kind == TRACE_STEP_INSN) {
			ret = refresh_stale(r);
			if (ret < 0)
				return ret;
		}
		if (i + 1 < count) {
			/* Straight into the spare slot: the state is not copied again. */
			got = trace_iter_next(r->it, &r->nx->s);
			if (got < 0)
				return fail(r, got, "%s: %s", r->opt->trace_path, trace_error(r->t));
			if (got > 0) {
				ret = own_step(r->nx);
				if (ret == 0)
					ret = note_stored_pages(r);
				if (ret < 0)
					return ret;
				expected = &r->nx->s.pre;
				have_next = true;
			}
		}
		if (!have_next) {
			ret = trace_state_at(r->t, i + 1, &r->last_state);
			if (ret < 0)
				return fail(r, ret, "%s: no state after the last step: %s",
				            r->opt->trace_path, trace_error(r->t));
		}

		int stop = 0;
		enum trace_step_kind kind = c->kind;
		/* Traces recorded before the NATIVE kind existed: the same rule the recorder applies now. */
		if (kind == TRACE_STEP_INSN && reference_runs_native &&
		    trace_step_ran_native(r->sum->reference, &c->pre, expected, img_read, r))
			kind = TRACE_STEP_NATIVE;
		switch (kind) {
		case TRACE_STEP_INSN:
			r->sum->insn_steps++;
			stop = run_insn_step(r, c, expected);
			if (stop < 0)
				return stop;
			break;
		case TRACE_STEP_RUN:
			r->sum->run_steps++;
			for (size_t k = 0; k < r->n_bk; k++)
				r->bk[k].need_state = true;
			break;
		case TRACE_STEP_NATIVE:
			r->sum->native_steps++;
			for (size_t k = 0; k < r->n_bk; k++)
				r->bk[k].need_state = true;
			break;
		case TRACE_STEP_FALLBACK:
		default:
			r->sum->fallback_steps++;
			for (size_t k = 0; k < r->n_bk; k++)
				r->bk[k].need_state = true;
			break;
		}

		/* The image moves on to memory before step i + 1: a step's own writes (a RUN step's too) now,
		 * and the pages a RUN step changed that the trace stores anew, before the next INSN step. */
		if (c->kind == TRACE_STEP_RUN)
			r->img_stale = true;
		for (uint32_t w = 0; w < c->n_writes; w++) {
			img_write(r, c->writes[w].gpa, c->writes[w].data, c->writes[w].len);
			for (size_t k = 0; k < r->n_bk; k++) {
				ret = add_dirty(&r->bk[k], c->writes[w].gpa, c->writes[w].len);
				if (ret < 0)
					return ret;
			}
		}
		done++;
		if (!(done & 1023) || done == total)
			set_progress(r, done, total);
		if (stop || !have_next)
			break;
		struct owned_step *tmp = r->cur;
		r->cur = r->nx;
		r->nx = tmp;
	}
	return 0;
}

int replay_plan(const struct replay_options *opt, struct trace **t, struct replay_summary *sum, char *err,
                size_t errlen)
{
	int ret;
	memset(sum, 0, sizeof(*sum));
	for (size_t i = 0; i < REPLAY_INPUT_KINDS; i++)
		sum->input_from_post_first[i] = UINT64_MAX;
	sum->jobs = 1;
	err[0] = 0;
	*t = NULL;
	ret = trace_open(t, opt->trace_path);
	if (ret < 0) {
		snprintf(err, errlen, "%s", trace_last_open_error());
		return ret == -ENOMEM ? ret : -ENOENT == ret ? -ENOENT : -EINVAL;
	}
	replay_reference(*t, sum->reference, sizeof(sum->reference));
	uint64_t count = trace_step_count(*t);
	sum->incomplete = !trace_is_complete(*t);
	sum->trace_steps = count;
	uint64_t first = opt->from, end = opt->to == UINT64_MAX || opt->to > count ? count : opt->to;
	if (opt->from > count || (opt->to != UINT64_MAX && opt->to > count)) {
		snprintf(err, errlen,
		         "--from/--to: step %" PRIu64 " is past the end of the trace (%" PRIu64 " steps)",
		         opt->from > count ? opt->from : opt->to, count);
		return -ERANGE;
	}
	if (first > end) {
		snprintf(err, errlen, "--from/--to: the range is empty (from > to)");
		return -EINVAL;
	}
	replay_shard_range(first, end, opt->shard_n ? opt->shard_k : 1, opt->shard_n, &sum->first, &sum->end);
	return 0;
}

int replay_run_one(const struct replay_options *opt, struct replay_summary *sum, char *err, size_t errlen)
{
	struct replayer r = {.opt = opt, .sum = sum, .err = err, .errlen = errlen};
	r.cur = &r.slot[0];
	r.nx = &r.slot[1];
	char derr[256] = "";
	int ret;

	ret = replay_plan(opt, &r.t, sum, err, errlen);
	if (ret < 0)
		goto out;

	r.scratch = malloc(SCRATCH_BYTES);
	if (!r.scratch) {
		ret = -ENOMEM;
		goto out;
	}
	ret = load_layout(&r);
	if (ret < 0)
		goto out;
	ret = load_cpuid(&r);
	if (ret < 0)
		goto out;
	ret = trace_foreach_exit(r.t, collect_exit, &r);
	if (ret == 0)
		ret = trace_foreach_event(r.t, collect_event, &r);
	if (ret < 0) {
		fail(&r, ret, "%s: cannot read exits and events: %s", opt->trace_path, trace_error(r.t));
		goto out;
	}
	ret = differ_rules_default(&r.rules);
	if (ret < 0) {
		fail(&r, ret, "the built-in divergence rules table does not load");
		goto out;
	}
	ret = differ_reference_default(&r.reference_rules);
	if (ret < 0) {
		fail(&r, ret, "the built-in reference rules table (differ/reference.tsv) does not load");
		goto out;
	}
	if (opt->known_path) {
		ret = differ_known_load(opt->known_path, &r.known, derr, sizeof(derr));
		if (ret < 0) {
			if (derr[0])
				snprintf(err, errlen, "%s", derr);
			else
				fail(&r, ret, "--known: cannot load %s", opt->known_path);
			ret = -EINVAL;
			goto out;
		}
		ret = differ_known_check(r.known, r.rules, err, errlen);
		if (ret < 0)
			goto out;
		/* Scoped known entries apply by the trace's guest image, reference and replay mode. */
		char guest[256] = "";
		if (trace_meta_get(r.t, "guest_image", guest, sizeof(guest)) < 0)
			guest[0] = '\0';
		const char *base = strrchr(guest, '/');
		differ_known_set_run(r.known, base ? base + 1 : guest, sum->reference,
		                     opt->continuous ? "continuous" : "per-step");
	}
	ret = open_backends(&r);
	if (ret < 0)
		goto out;
	if (opt->results_path) {
		struct differ_run_info info = {.trace_path = opt->trace_path,
		                               .reference = sum->reference,
		                               .replay_mode = opt->continuous ? "continuous" : "per-step",
		                               .command_line = opt->command_line ? opt->command_line : ""};
		ret = differ_results_create(&r.results, opt->results_path, &info, derr, sizeof(derr));
		if (ret < 0) {
			snprintf(err, errlen, "%s", derr[0] ? derr : "cannot create the results database");
			ret = -EINVAL;
			goto out;
		}
		differ_results_set_range(r.results, sum->first, sum->end);
	}
	ret = replay_loop(&r, sum->first, sum->end);
	if (ret > 0)
		ret = 0;
	if (ret == 0 && r.results)
		ret = differ_results_set_end(r.results, !sum->interrupted, sum->stopped_at);
	if (ret == 0 && r.results)
		ret = differ_results_set_not_compared(r.results, sum->run_steps, sum->fallback_steps,
		                                      sum->native_steps);
out:
	if (r.results) {
		if (r.known && ret == 0)
			differ_results_add_known(r.results, r.known);
		int cret = differ_results_close(r.results);
		if (cret < 0 && ret == 0) {
			fail(&r, cret, "%s: cannot write the results database", opt->results_path);
			ret = cret;
		}
	}
	if (r.it)
		trace_iter_end(r.it);
	for (size_t k = 0; k < r.n_bk; k++) {
		r.bk[k].ops->close(r.bk[k].b);
		free(r.bk[k].dirty);
	}
	for (size_t i = 0; i < r.n_regions; i++) {
		free(r.regions[i].mem);
		free(r.regions[i].used);
	}
	free(r.regions);
	free(r.bregions);
	free(r.cpuid);
	free(r.exits);
	free(r.events);
	free(r.scratch);
	free(r.step_inputs);
	free(r.stale_pages);
	free_step(&r.slot[0]);
	free_step(&r.slot[1]);
	differ_rules_free(r.rules);
	differ_reference_free(r.reference_rules);
	differ_known_free(r.known);
	trace_close(r.t);
	return ret;
}

int replay_run(const struct replay_options *opt, struct replay_summary *sum, char *err, size_t errlen)
{
	static const char *const kinds[] = {
	    [REPLAY_INPUT_CPUID] = "CPUID", [REPLAY_INPUT_RDTSC] = "RDTSC", [REPLAY_INPUT_RDMSR] = "RDMSR"};
	int ret = opt->jobs > 1 && !opt->on_step ? replay_run_jobs(opt, sum, err, errlen)
	                                         : replay_run_one(opt, sum, err, errlen);
	for (const char *line = sum->backend_notes; *line;) {
		size_t len = strcspn(line, "\n");
		fprintf(stderr, "emudiff: note: %.*s\n", (int)len, line);
		line += len + (line[len] == '\n');
	}
	for (size_t k = 0; k < REPLAY_INPUT_KINDS; k++)
		if (sum->input_from_post_first[k] != UINT64_MAX)
			fprintf(stderr,
			        "emudiff: note: %s has no recorded %s results (the first at step %" PRIu64
			        "): they were taken from the recorded states after them\n",
			        opt->trace_path, kinds[k], sum->input_from_post_first[k]);
	return ret;
}
