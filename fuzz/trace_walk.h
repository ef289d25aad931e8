/* Reads everything a trace holds through the public reader, as info, replay and diff do. */
#ifndef EMUDIFF_FUZZ_TRACE_WALK_H
#define EMUDIFF_FUZZ_TRACE_WALK_H

/* Opens path and reads it all; a failure must come with a one-line message (else it traps). */
void trace_walk(const char *path);

#endif
