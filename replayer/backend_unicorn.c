/* The unicorn replay backend. Guest RAM and a request block live in shared
 * memory; a child process owns the uc_engine, loads each state through the raw
 * uc_context (QEMU's CPUX86State inside libunicorn 2.0.1, see
 * notes/unicorn-2.0.1.md), single-steps with EFLAGS.TF and feeds the recorded
 * inputs from hooks. When unicorn aborts the child (tcg fatal error on some
 * invalid encodings) the step becomes backend.crash, the bytes it wrote are put
 * back and a new child takes over with the last good state. A state crosses
 * between the processes as the words that differ from one both already hold.
 * After each step the child runs on ahead through plain steps, so that in
 * per-step replay most steps need no hand-off (unicorn_private.h). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "unicorn_private.h"

#define UNICORN_REPLY_TIMEOUT_S 10

struct backend {
	struct unicorn_setup setup;
	struct unicorn_region *regions;
	uint32_t (*cpuid)[6];
	pid_t pid;
	int fd;
	int errfd;
	bool dead;
	uint32_t seq;           /* the last request handed to the child */
	struct timespec waited; /* when the parent first slept on the pending request */
	/* Steps the child ran ahead: shm->ahead[next_ahead, n_ahead) are still to be taken. */
	uint32_t n_ahead;
	uint32_t next_ahead;
	uint32_t ahead_max; /* how many to ask for with the next request */
	/* After running ahead did not pay at all: requests to make before trying again, and how many the
	 * next such pause lasts (doubling while it keeps not paying). */
	uint32_t ahead_rest;
	uint32_t ahead_backoff;
	bool mem_changed;       /* write_mem changed guest memory since the last step */
	struct x86_state state; /* the state the engine holds (as of its last reply), for a restart */
	struct x86_state pre;   /* the state the next step starts from */
	enum unicorn_load load; /* how the next request brings the engine from state to pre */
	bool fresh;             /* a new engine that has not loaded a state yet */
	struct x86_state unobserved_stepped;
	/* The result whose unobserved mask holds unobserved_stepped: it is copied only when it changes. */
	const struct backend_result *mask_stepped_in;
	char *err;
	size_t errlen;
};

__attribute__((format(printf, 3, 4))) static void set_msg(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	if (!buf || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

/* 1 with the reply byte, 0 when the child is gone, -ETIMEDOUT when it hangs (SO_RCVTIMEO). */
static int wait_reply(struct backend *b, char *c)
{
	for (;;) {
		ssize_t r = read(b->fd, c, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return -ETIMEDOUT;
		return r == 1 ? 1 : 0;
	}
}

/* Reaps the child; describes how it ended and what it printed. */
static void reap_child(struct backend *b, char *why, size_t len)
{
	int status = 0;
	char out[512] = "";
	if (b->pid > 0) {
		if (waitpid(b->pid, &status, WNOHANG) == 0) {
			kill(b->pid, SIGKILL);
			waitpid(b->pid, &status, 0);
		}
	}
	if (b->errfd >= 0) {
		ssize_t n = read(b->errfd, out, sizeof(out) - 1);
		out[n > 0 ? n : 0] = '\0';
		char *nl = strchr(out, '\n');
		if (nl)
			*nl = '\0';
		close(b->errfd);
		b->errfd = -1;
	}
	if (b->fd >= 0) {
		close(b->fd);
		b->fd = -1;
	}
	if (why) {
		if (b->pid > 0 && WIFSIGNALED(status))
			set_msg(why, len, "unicorn died with signal %d%s%s", WTERMSIG(status),
			        out[0] ? ": " : "", out);
		else
			set_msg(why, len, "unicorn exited with status %d%s%s",
			        WIFEXITED(status) ? WEXITSTATUS(status) : -1, out[0] ? ": " : "", out);
	}
	b->pid = -1;
}

static int start_child(struct backend *b)
{
	int sv[2] = {-1, -1}, ep[2] = {-1, -1};
	char c = 0;
	int ret;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	if (pipe2(ep, O_CLOEXEC) < 0) {
		ret = -errno;
		goto out_sv;
	}
	b->setup.shm->status = 0;
	b->setup.shm->msg[0] = '\0';
	b->setup.shm->state = b->state;
	b->pre = b->state;
	b->load = LOAD_FULL;
	b->fresh = true;
	b->n_ahead = b->next_ahead = 0;
	atomic_store(&b->setup.shm->req, 0);
	atomic_store(&b->setup.shm->resp, 0);
	atomic_store(&b->setup.shm->child_sleeping, 0);
	atomic_store(&b->setup.shm->parent_sleeping, 0);
	atomic_store(&b->setup.shm->child_gone, 0);
	atomic_store(&b->setup.shm->quit, 0);
	b->seq = 0;
	pid_t pid = fork();
	if (pid < 0) {
		ret = -errno;
		goto out_ep;
	}
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(sv[0]);
		close(ep[0]);
		/* Keep only stdin/stdout, stderr (the pipe) and the socket (as fd 3): the parent's other
		 * files (trace, /dev/kvm) must not stay open in the engine process. */
		if (dup2(ep[1], STDERR_FILENO) < 0 || dup2(sv[1], 3) < 0)
			_exit(1);
		close_range(4, ~0u, 0);
		signal(SIGPIPE, SIG_IGN);
		b->setup.fd = 3;
		unicorn_child_main(&b->setup);
	}
	close(sv[1]);
	close(ep[1]);
	fcntl(ep[0], F_SETFL, O_NONBLOCK);
	struct timeval tv = {.tv_sec = UNICORN_REPLY_TIMEOUT_S};
	setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	b->pid = pid;
	b->fd = sv[0];
	b->errfd = ep[0];
	ret = wait_reply(b, &c);
	if (ret == 1 && c == UNICORN_REPLY_READY && b->setup.shm->status == 0)
		return 0;
	if (ret == 1 || ret == 0) {
		ret = b->setup.shm->status ? b->setup.shm->status : -ECHILD;
		if (b->setup.shm->msg[0])
			set_msg(b->err, b->errlen, "unicorn backend: %s", b->setup.shm->msg);
		else
			reap_child(b, b->err, b->errlen);
	} else {
		set_msg(b->err, b->errlen, "unicorn backend: the engine process did not start");
	}
	reap_child(b, NULL, 0);
	return ret;
out_ep:
	close(ep[0]);
	close(ep[1]);
out_sv:
	close(sv[0]);
	close(sv[1]);
	return ret;
}

static void unicorn_close(struct backend *b)
{
	if (!b)
		return;
	if (b->pid > 0) {
		atomic_store(&b->setup.shm->quit, 1);
		unicorn_post(&b->setup.shm->req, b->seq + 1, &b->setup.shm->child_sleeping);
		waitpid(b->pid, NULL, 0);
	}
	if (b->fd >= 0)
		close(b->fd);
	b->fd = -1;
	b->pid = -1;
	if (b->errfd >= 0)
		close(b->errfd);
	for (size_t i = 0; b->regions && i < b->setup.n_regions; i++)
		if (b->regions[i].host)
			munmap(b->regions[i].host, b->regions[i].len);
	if (b->setup.shm)
		munmap(b->setup.shm, sizeof(*b->setup.shm));
	free(b->regions);
	free(b->cpuid);
	free(b);
}

static int unicorn_open(struct backend **out, const struct backend_config *cfg, char *err, size_t errlen)
{
	unsigned major = 0, minor = 0;
	unsigned v = uc_version(&major, &minor);
	unsigned patch = (v >> 8) & 0xff;
	struct backend *b;
	int ret;

	*out = NULL;
	if (major != 2 || minor != 0 || patch != 1) {
		set_msg(err, errlen, "libunicorn %u.%u.%u found; emudiff needs 2.0.1 (Debian libunicorn-dev)",
		        major, minor, patch);
		return -ENODEV;
	}
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->fd = b->errfd = -1;
	b->pid = -1;
	b->ahead_max = 8;
	b->err = err;
	b->errlen = errlen;
	x86_state_reset(&b->state);
	unicorn_mark_unobserved(&b->unobserved_stepped);
	b->setup.shm =
	    mmap(NULL, sizeof(*b->setup.shm), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (b->setup.shm == MAP_FAILED) {
		b->setup.shm = NULL;
		ret = -errno;
		set_msg(err, errlen, "unicorn backend: cannot map the shared request block");
		goto out;
	}
	b->regions = calloc(cfg->n_regions ? cfg->n_regions : 1, sizeof(*b->regions));
	if (!b->regions) {
		ret = -ENOMEM;
		goto out;
	}
	b->setup.regions = b->regions;
	for (size_t i = 0; i < cfg->n_regions; i++) {
		const struct backend_region *r = &cfg->regions[i];
		uint64_t len = (r->len + 0xfff) & ~0xfffull;
		if ((r->gpa & 0xfff) || !r->len || len < r->len) {
			set_msg(err, errlen, "unicorn backend: region %#llx+%#llx is not page-aligned",
			        (unsigned long long)r->gpa, (unsigned long long)r->len);
			ret = -EINVAL;
			goto out;
		}
		void *host = mmap(NULL, len, PROT_READ | PROT_WRITE,
		                  MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (host == MAP_FAILED) {
			ret = -errno;
			set_msg(err, errlen, "unicorn backend: cannot map %llu bytes of guest memory",
			        (unsigned long long)len);
			goto out;
		}
		b->regions[i] =
		    (struct unicorn_region){.gpa = r->gpa, .len = len, .rom = r->rom, .host = host};
		b->setup.n_regions = i + 1;
	}
	if (cfg->n_cpuid) {
		b->cpuid = calloc(cfg->n_cpuid, sizeof(*b->cpuid));
		if (!b->cpuid) {
			ret = -ENOMEM;
			goto out;
		}
		memcpy(b->cpuid, cfg->cpuid, cfg->n_cpuid * sizeof(*b->cpuid));
	}
	b->setup.cpuid = (const uint32_t(*)[6])b->cpuid;
	b->setup.n_cpuid = cfg->n_cpuid;
	b->setup.mov_ss_alone = !cfg->step_over_mov_ss_shadow;
	ret = start_child(b);
	if (ret)
		goto out;
	*out = b;
	return 0;
out:
	unicorn_close(b);
	return ret;
}

/* Guest memory as of the last step taken: what is there now, with the bytes the steps run ahead and not
 * taken wrote put back from their undo entries (the oldest entry of a byte last, so it wins). */
static void ahead_view(const struct backend *b, uint64_t gpa, uint8_t *view, size_t len)
{
	const struct unicorn_shm *shm = b->setup.shm;
	for (uint32_t i = b->n_ahead; i-- > b->next_ahead;) {
		const struct unicorn_undo *u = &shm->ahead_undo[shm->ahead[i].undo_first];
		for (uint32_t j = shm->ahead[i].n_undo; j-- > 0;) {
			uint64_t lo = u[j].gpa > gpa ? u[j].gpa : gpa;
			uint64_t hi = u[j].gpa + u[j].len < gpa + len ? u[j].gpa + u[j].len : gpa + len;
			if (lo < hi)
				memcpy(view + (lo - gpa), u[j].data + (lo - u[j].gpa), hi - lo);
		}
	}
}

/* The steps run ahead are not the replayer's next ones: their writes are undone, newest first, and the
 * engine is given the next state whole. Later ones run ahead only as far as these paid off. */
static void ahead_drop(struct backend *b)
{
	struct unicorn_shm *shm = b->setup.shm;
	if (b->next_ahead == b->n_ahead)
		return;
	for (uint32_t i = b->n_ahead; i-- > b->next_ahead;)
		unicorn_undo_entries(&b->setup, &shm->ahead_undo[shm->ahead[i].undo_first],
		                     shm->ahead[i].n_undo);
	b->ahead_max = b->next_ahead;
	if (!b->ahead_max) {
		b->ahead_backoff = b->ahead_backoff ? 2 * b->ahead_backoff : 1;
		if (b->ahead_backoff > 64)
			b->ahead_backoff = 64;
		b->ahead_rest = b->ahead_backoff;
	} else {
		b->ahead_backoff = 0;
	}
	b->n_ahead = b->next_ahead = 0;
	b->fresh = true;
	b->load = LOAD_FULL;
	shm->state = b->pre;
}

static int unicorn_write_mem(struct backend *b, uint64_t gpa, const void *data, size_t len)
{
	uint8_t *p = unicorn_host_ptr(b->regions, b->setup.n_regions, gpa, len, NULL);
	if (!p)
		return -EFAULT;
	/* Writing back bytes the last step taken left, where a step run ahead wrote again, keeps what ran
	 * ahead. */
	if (b->next_ahead < b->n_ahead) {
		uint8_t view[64];
		if (len > sizeof(view)) {
			ahead_drop(b);
		} else {
			memcpy(view, p, len);
			ahead_view(b, gpa, view, len);
			if (memcmp(view, data, len) == 0)
				return 0;
			ahead_drop(b);
		}
	}
	/* The replayer mostly writes back what the engine itself just wrote: no code to invalidate. */
	if (memcmp(p, data, len) == 0)
		return 0;
	memcpy(p, data, len);
	unicorn_mark_dirty(b->setup.shm, gpa, len);
	b->mem_changed = true;
	return 0;
}

static int unicorn_read_mem(struct backend *b, uint64_t gpa, void *data, size_t len)
{
	const uint8_t *p = unicorn_host_ptr(b->regions, b->setup.n_regions, gpa, len, NULL);
	if (!p)
		return -EFAULT;
	ahead_drop(b);
	memcpy(data, p, len);
	return 0;
}

static int unicorn_set_state(struct backend *b, const struct x86_state *st)
{
	struct unicorn_shm *shm = b->setup.shm;
	b->pre = *st;
	b->load = LOAD_FULL;
	if (!b->fresh) {
		unicorn_state_diff(&b->state, st, &shm->patch);
		if (shm->patch.n != PATCH_FULL)
			b->load = shm->patch.n ? LOAD_PATCH : LOAD_KEEP;
	}
	if (b->load == LOAD_FULL)
		shm->state = *st;
	return 0;
}

static void result_invalid(struct backend *b, struct backend_result *out, enum backend_outcome outcome)
{
	out->outcome = outcome;
	out->post = b->pre;
	memset(&out->unobserved, 0xff, sizeof(out->unobserved));
	b->mask_stepped_in = NULL;
	out->n_writes = 0;
	out->n_ports = 0;
	out->writes_overflow = false;
}

/* Between sleeps on the reply: 1 while the child runs, 0 when it is gone, -ETIMEDOUT when it hangs. */
static int child_alive(void *arg)
{
	struct backend *b = arg;
	siginfo_t info = {0};
	if (atomic_load(&b->setup.shm->child_gone))
		return 0;
	/* WNOWAIT leaves the child for reap_child, which reports how it ended. */
	if (waitid(P_PID, (id_t)b->pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == b->pid)
		return 0;
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	if (!b->waited.tv_sec && !b->waited.tv_nsec)
		b->waited = t;
	return t.tv_sec - b->waited.tv_sec >= UNICORN_REPLY_TIMEOUT_S ? -ETIMEDOUT : 1;
}

/* Hands the request in shm to the child: 1 when it is done, 0 when the child is gone,
 * -ETIMEDOUT when it hangs. */
static int run_child_step(struct backend *b)
{
	struct unicorn_shm *shm = b->setup.shm;
	uint32_t seq = ++b->seq;
	b->waited = (struct timespec){0};
	atomic_store(&shm->replied, 0);
	atomic_store(&shm->n_ahead, 0);
	unicorn_post(&shm->req, seq, &shm->child_sleeping);
	return unicorn_wait(&shm->resp, seq - 1, &shm->parent_sleeping, child_alive, b);
}

/* The child's reply as a result: the post-state is the step's pre-state with the reply's patch, and
 * becomes the state the engine holds. */
static void take_reply(struct backend *b, const struct unicorn_reply *r, struct backend_result *out)
{
	out->outcome = r->outcome;
	out->reason[0] = '\0';
	if (r->outcome != BACKEND_STEPPED) {
		memcpy(out->reason, r->reason, strnlen(r->reason, sizeof(r->reason) - 1) + 1);
		out->reason[sizeof(out->reason) - 1] = '\0';
	}
	if (r->post.n == PATCH_FULL)
		b->pre = r->post_full;
	else
		unicorn_state_apply(&b->pre, &r->post);
	out->post = b->state = b->pre;
	if (r->outcome != BACKEND_STEPPED) {
		memset(&out->unobserved, 0xff, sizeof(out->unobserved));
		b->mask_stepped_in = NULL;
	} else if (b->mask_stepped_in != out) {
		out->unobserved = b->unobserved_stepped;
		b->mask_stepped_in = out;
	}
	out->n_writes = r->n_writes < BACKEND_MAX_WRITES ? r->n_writes : BACKEND_MAX_WRITES;
	memcpy(out->writes, r->writes, out->n_writes * sizeof(out->writes[0]));
	out->writes_overflow = r->writes_overflow;
	out->n_ports = r->n_ports < BACKEND_MAX_PORTS ? r->n_ports : BACKEND_MAX_PORTS;
	memcpy(out->ports, r->ports, out->n_ports * sizeof(out->ports[0]));
}

static int unicorn_step(struct backend *b, const struct backend_step_input *in, struct backend_result *out)
{
	struct unicorn_shm *shm = b->setup.shm;
	int ret;

	if (b->dead) {
		result_invalid(b, out, BACKEND_FAILED);
		set_msg(out->reason, sizeof(out->reason), "unicorn engine process could not be restarted");
		return 0;
	}
	if (in->n_inputs > UNICORN_MAX_INPUTS) {
		result_invalid(b, out, BACKEND_UNSUPPORTED);
		set_msg(out->reason, sizeof(out->reason),
		        "step %llu has %u recorded inputs, more than the %d of the unicorn backend's shared "
		        "memory (UNICORN_MAX_INPUTS)",
		        (unsigned long long)in->step, in->n_inputs, UNICORN_MAX_INPUTS);
		return 0;
	}
	/* The next step run ahead is this one when it starts from the same state and memory, without
	 * inputs. */
	if (b->next_ahead < b->n_ahead && b->load == LOAD_KEEP && !b->mem_changed && !in->n_inputs &&
	    !in->event) {
		take_reply(b, &shm->ahead[b->next_ahead++].reply, out);
		return 0;
	}
	ahead_drop(b);
	if (b->n_ahead)
		b->ahead_max =
		    b->ahead_max * 2 < UNICORN_MAX_AHEAD ? b->ahead_max * 2 + 1 : UNICORN_MAX_AHEAD;
	if (!b->ahead_max && b->ahead_rest)
		b->ahead_rest--;
	else if (!b->ahead_max)
		b->ahead_max = 1;
	shm->ahead_max = b->ahead_max;
	shm->n_inputs = in->n_inputs;
	shm->inputs_continued = in->continued;
	if (in->n_inputs)
		memcpy(shm->inputs, in->inputs, in->n_inputs * sizeof(*in->inputs));
	shm->has_event = in->event != NULL;
	if (in->event)
		shm->event = *in->event;
	shm->load = b->load;

	ret = run_child_step(b);
	b->mem_changed = false;
	b->n_ahead = b->next_ahead = 0;
	if (ret == 1 || atomic_load(&shm->replied)) {
		take_reply(b, &shm->reply, out);
		b->load = LOAD_KEEP;
		b->fresh = false;
		b->n_ahead = atomic_load(&shm->n_ahead);
		if (ret == 1)
			return 0;
		/* The step is done; one run ahead of it crashed or hung: none of those counts. */
		char why[sizeof(out->reason)];
		unicorn_undo_apply(&b->setup, why, sizeof(why));
		ahead_drop(b);
		b->ahead_max = 0;
		reap_child(b, NULL, 0);
		b->state = b->pre;
		if (start_child(b) != 0)
			b->dead = true;
		return 0;
	}

	/* The engine died or hung: undo its writes, report the step, carry on with a new one. */
	char why[sizeof(out->reason)];
	reap_child(b, why, sizeof(why));
	result_invalid(b, out, BACKEND_CRASH);
	if (ret == -ETIMEDOUT)
		set_msg(out->reason, sizeof(out->reason), "unicorn did not finish the step within %d s",
		        UNICORN_REPLY_TIMEOUT_S);
	else
		set_msg(out->reason, sizeof(out->reason), "%s", why);
	unicorn_undo_apply(&b->setup, out->reason, sizeof(out->reason));
	b->state = b->pre; /* the new engine starts from the step's state */
	if (start_child(b) != 0)
		b->dead = true;
	return 0;
}

const struct backend_ops backend_unicorn_ops = {
    .name = "unicorn",
    .open = unicorn_open,
    .write_mem = unicorn_write_mem,
    .read_mem = unicorn_read_mem,
    .set_state = unicorn_set_state,
    .step = unicorn_step,
    .close = unicorn_close,
};
