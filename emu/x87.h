/* The x87 unit (emu/x87*.c), called by the D8-DF handler. */
#ifndef EMUDIFF_EMU_X87_H
#define EMUDIFF_EMU_X87_H

#include "private.h"
#include "softfloat.h"

/* Executes a waiting x87 instruction (everything in D8-DF but FNINIT, FNCLEX, FNSTSW,
 * FNSTCW, FNSTENV, FNSAVE and the 8087/287 leftovers); reserved encodings raise #UD. */
enum emu_status emu_x87(struct emu_exec *x);

/* FNSTENV (regs false) and FNSAVE (regs true): no wait for pending exceptions. */
enum emu_status emu_x87_store_env(struct emu_exec *x, bool regs);

/* Transcendentals (x87_trans.c) on finite, supported operands (FPATAN: zeros too), within one
 * unit in the last place under env (precision control aside); flags go to env. */
struct sf_f80 x87_f2xm1(struct sf_env *env, struct sf_f80 a);
struct sf_f80 x87_fyl2x(struct sf_env *env, struct sf_f80 x, struct sf_f80 y, bool plus_one);
struct sf_f80 x87_fpatan(struct sf_env *env, struct sf_f80 y, struct sf_f80 x);
/* sin, cos or tan of a (|a| < 2^63): which 0 sin, 1 cos, 2 tan. */
struct sf_f80 x87_trig(struct sf_env *env, struct sf_f80 a, unsigned which);

#endif
