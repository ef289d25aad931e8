-- The emudiff trace format: the one definition, embedded into the code at build time.
-- States S0..Sn; step i goes from Si to Si+1. Integers are 64-bit, unsigned values stored as their bit pattern.

PRAGMA application_id = 1162696004; -- 0x454d5544 "EMUD", TRACE_APPLICATION_ID in trace.h
PRAGMA user_version = 3;            -- TRACE_FORMAT_VERSION in trace.h

-- How the trace was made (tool version, host CPU, KVM flavour, guest image, mode, command line)
-- and how it ended (end_reason, steps: present only in a complete trace).
CREATE TABLE meta (
	key TEXT PRIMARY KEY,
	value TEXT NOT NULL
) STRICT;

-- The device model's state (devbus_save bytes) before step `step`: at step 0, every chunk and at the end
-- of a PC recording. Format version 1 kept these as meta rows devices@<step> with the bytes in hex.
CREATE TABLE device_checkpoints (
	step INTEGER PRIMARY KEY,
	data BLOB NOT NULL
) STRICT;

-- Steps [first_step, first_step + n_steps) and their states, zstd-compressed: header, step kinds, the first
-- state in full then each next state as sparse zigzag-varint word deltas, and the bytes each step wrote
-- (codec.c). Every chunk decodes on its own. end_state = 1: it also holds state first_step + n_steps
-- (else the next chunk's first state is that state; a trace whose last chunk lacks it ends one step earlier).
-- Step kinds: 0 INSN, 1 RUN, 2 FALLBACK, 3 NATIVE (version 3: an instruction the reference followed with
-- unrecorded native code); the NATIVE steps of a chunk are n_steps minus the three counts kept.
CREATE TABLE chunks (
	first_step INTEGER PRIMARY KEY,
	n_steps INTEGER NOT NULL,
	end_state INTEGER NOT NULL CHECK (end_state IN (0, 1)),
	insn_steps INTEGER NOT NULL,
	run_steps INTEGER NOT NULL,
	fallback_steps INTEGER NOT NULL,
	raw_bytes INTEGER NOT NULL,
	data BLOB NOT NULL
) STRICT;

-- Guest memory pages by content: hash = SHA-256 of the 4096 bytes, first 16 bytes; data = zstd frame.
CREATE TABLE pages (
	hash BLOB PRIMARY KEY,
	data BLOB NOT NULL
) STRICT;

-- Page gpa holds content hash before step `step` (initial image, RUN results, chunk-boundary snapshots).
-- Memory before step s: the row with the greatest step <= s, then the chunk's writes up to s.
CREATE TABLE page_map (
	gpa INTEGER NOT NULL,
	step INTEGER NOT NULL,
	hash BLOB NOT NULL REFERENCES pages (hash),
	PRIMARY KEY (gpa, step)
) STRICT, WITHOUT ROWID;
CREATE INDEX page_map_step ON page_map (step);

-- VM exits: step = the step that caused it; data is an integer for IO/MMIO values of up to 8 bytes,
-- else a blob of data_len bytes (INTERNAL_ERROR: instruction bytes).
CREATE TABLE exits (
	seq INTEGER PRIMARY KEY,
	step INTEGER NOT NULL,
	reason TEXT NOT NULL,
	reason_code INTEGER NOT NULL,
	kvm_reason INTEGER NOT NULL,
	suberror INTEGER NOT NULL,
	addr INTEGER NOT NULL,
	size INTEGER NOT NULL,
	direction TEXT NOT NULL CHECK (direction IN ('read', 'write')),
	count INTEGER NOT NULL,
	data_len INTEGER NOT NULL,
	data ANY
) STRICT;
CREATE INDEX exits_step ON exits (step);

-- Interrupts and exceptions injected before step `step` executes.
-- type: 0 external interrupt, 2 NMI, 3 exception, 4 software interrupt.
CREATE TABLE events (
	seq INTEGER PRIMARY KEY,
	step INTEGER NOT NULL,
	vector INTEGER NOT NULL,
	type INTEGER NOT NULL,
	has_error INTEGER NOT NULL,
	error_code INTEGER NOT NULL
) STRICT;
CREATE INDEX events_step ON events (step);

-- Values that entered the guest from outside during step `step`: value is an integer for sizes up to 8,
-- else a blob (CPUID: eax ebx ecx edx, 16 bytes little-endian).
CREATE TABLE inputs (
	seq INTEGER PRIMARY KEY,
	step INTEGER NOT NULL,
	kind TEXT NOT NULL,
	kind_code INTEGER NOT NULL,
	addr INTEGER NOT NULL,
	size INTEGER NOT NULL,
	value ANY NOT NULL,
	count INTEGER NOT NULL
) STRICT;
CREATE INDEX inputs_step ON inputs (step);
