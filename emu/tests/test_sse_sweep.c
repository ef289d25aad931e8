/* SSE instructions against the host CPU: each case is one instruction, assembled here, run between
 * a prologue that loads xmm0-2, mm0-1, rax, rcx, rdx, RFLAGS and MXCSR from a block at [rdi] (rsi
 * points at a 32-byte memory operand inside it) and an epilogue that stores them back. The same
 * bytes run natively and in emu over edge operands (zeros, denormals, normals at the ends of the
 * range, infinities, QNaNs, SNaNs, values at rounding boundaries, random) in every rounding mode
 * with DAZ and FTZ on and off; the block must come back the same. */
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>

#include <cmocka.h>

#include "harness.h"

/* The block the prologue loads and the epilogue stores. */
struct block {
	uint8_t xmm[3][16];
	uint8_t mm[2][8];
	uint64_t rax, rcx, rdx, rflags;
	uint32_t mxcsr, pad[3];
	uint8_t mem[32];
};
_Static_assert(offsetof(struct block, mxcsr) == 0x60 && offsetof(struct block, mem) == 0x70, "block layout");

#define BLOCK_ADDR 0x3000u

__asm__(".pushsection .rodata\n"
        "sse_prologue:\n"
        "ldmxcsr 0x60(%rdi)\n"
        "movdqu (%rdi), %xmm0\n"
        "movdqu 0x10(%rdi), %xmm1\n"
        "movdqu 0x20(%rdi), %xmm2\n"
        "movq 0x30(%rdi), %mm0\n"
        "movq 0x38(%rdi), %mm1\n"
        "mov 0x40(%rdi), %rax\n"
        "mov 0x48(%rdi), %rcx\n"
        "mov 0x50(%rdi), %rdx\n"
        "pushq 0x58(%rdi)\n"
        "popfq\n"
        "lea 0x70(%rdi), %rsi\n"
        "sse_prologue_end:\n"
        "sse_epilogue:\n"
        "pushfq\n"
        "popq 0x58(%rdi)\n"
        "stmxcsr 0x60(%rdi)\n"
        "movdqu %xmm0, (%rdi)\n"
        "movdqu %xmm1, 0x10(%rdi)\n"
        "movdqu %xmm2, 0x20(%rdi)\n"
        "movq %mm0, 0x30(%rdi)\n"
        "movq %mm1, 0x38(%rdi)\n"
        "mov %rax, 0x40(%rdi)\n"
        "mov %rcx, 0x48(%rdi)\n"
        "mov %rdx, 0x50(%rdi)\n"
        "emms\n"
        "sse_epilogue_end:\n"
        ".popsection");
extern const uint8_t sse_prologue[], sse_prologue_end[], sse_epilogue[], sse_epilogue_end[];

/* Operand kinds: how xmm/mm/memory inputs are drawn. */
enum kind { K_INT, K_S, K_D, K_STR, K_SI, K_DI, K_APPROX };
/* Immediates tried: the last instruction byte is replaced. */
enum imms { I_NONE, I_GEN, I_ALL, I_CMP, I_STR, I_ROUND, I_SHIFT };

/* id, operand kind, immediates, AT&T text; xmm0/mm0 destination, xmm1/mm1 or (%rsi) source. */
#define CASES(X)                                                                                             \
	X(paddb, K_INT, I_NONE, "paddb %xmm1, %xmm0")                                                        \
	X(paddw, K_INT, I_NONE, "paddw %xmm1, %xmm0")                                                        \
	X(paddd, K_INT, I_NONE, "paddd %xmm1, %xmm0")                                                        \
	X(paddq, K_INT, I_NONE, "paddq %xmm1, %xmm0")                                                        \
	X(psubb, K_INT, I_NONE, "psubb %xmm1, %xmm0")                                                        \
	X(psubw, K_INT, I_NONE, "psubw %xmm1, %xmm0")                                                        \
	X(psubd, K_INT, I_NONE, "psubd %xmm1, %xmm0")                                                        \
	X(psubq, K_INT, I_NONE, "psubq %xmm1, %xmm0")                                                        \
	X(paddsb, K_INT, I_NONE, "paddsb %xmm1, %xmm0")                                                      \
	X(paddsw, K_INT, I_NONE, "paddsw %xmm1, %xmm0")                                                      \
	X(paddusb, K_INT, I_NONE, "paddusb %xmm1, %xmm0")                                                    \
	X(paddusw, K_INT, I_NONE, "paddusw %xmm1, %xmm0")                                                    \
	X(psubsb, K_INT, I_NONE, "psubsb %xmm1, %xmm0")                                                      \
	X(psubsw, K_INT, I_NONE, "psubsw %xmm1, %xmm0")                                                      \
	X(psubusb, K_INT, I_NONE, "psubusb %xmm1, %xmm0")                                                    \
	X(psubusw, K_INT, I_NONE, "psubusw %xmm1, %xmm0")                                                    \
	X(pcmpeqb, K_INT, I_NONE, "pcmpeqb %xmm1, %xmm0")                                                    \
	X(pcmpeqw, K_INT, I_NONE, "pcmpeqw %xmm1, %xmm0")                                                    \
	X(pcmpeqd, K_INT, I_NONE, "pcmpeqd %xmm1, %xmm0")                                                    \
	X(pcmpeqq, K_INT, I_NONE, "pcmpeqq %xmm1, %xmm0")                                                    \
	X(pcmpgtb, K_INT, I_NONE, "pcmpgtb %xmm1, %xmm0")                                                    \
	X(pcmpgtw, K_INT, I_NONE, "pcmpgtw %xmm1, %xmm0")                                                    \
	X(pcmpgtd, K_INT, I_NONE, "pcmpgtd %xmm1, %xmm0")                                                    \
	X(pcmpgtq, K_INT, I_NONE, "pcmpgtq %xmm1, %xmm0")                                                    \
	X(pminub, K_INT, I_NONE, "pminub %xmm1, %xmm0")                                                      \
	X(pmaxub, K_INT, I_NONE, "pmaxub %xmm1, %xmm0")                                                      \
	X(pminsw, K_INT, I_NONE, "pminsw %xmm1, %xmm0")                                                      \
	X(pmaxsw, K_INT, I_NONE, "pmaxsw %xmm1, %xmm0")                                                      \
	X(pminsb, K_INT, I_NONE, "pminsb %xmm1, %xmm0")                                                      \
	X(pminsd, K_INT, I_NONE, "pminsd %xmm1, %xmm0")                                                      \
	X(pminuw, K_INT, I_NONE, "pminuw %xmm1, %xmm0")                                                      \
	X(pminud, K_INT, I_NONE, "pminud %xmm1, %xmm0")                                                      \
	X(pmaxsb, K_INT, I_NONE, "pmaxsb %xmm1, %xmm0")                                                      \
	X(pmaxsd, K_INT, I_NONE, "pmaxsd %xmm1, %xmm0")                                                      \
	X(pmaxuw, K_INT, I_NONE, "pmaxuw %xmm1, %xmm0")                                                      \
	X(pmaxud, K_INT, I_NONE, "pmaxud %xmm1, %xmm0")                                                      \
	X(pavgb, K_INT, I_NONE, "pavgb %xmm1, %xmm0")                                                        \
	X(pavgw, K_INT, I_NONE, "pavgw %xmm1, %xmm0")                                                        \
	X(pmullw, K_INT, I_NONE, "pmullw %xmm1, %xmm0")                                                      \
	X(pmulhw, K_INT, I_NONE, "pmulhw %xmm1, %xmm0")                                                      \
	X(pmulhuw, K_INT, I_NONE, "pmulhuw %xmm1, %xmm0")                                                    \
	X(pmulld, K_INT, I_NONE, "pmulld %xmm1, %xmm0")                                                      \
	X(pmuludq, K_INT, I_NONE, "pmuludq %xmm1, %xmm0")                                                    \
	X(pmuldq, K_INT, I_NONE, "pmuldq %xmm1, %xmm0")                                                      \
	X(pmaddwd, K_INT, I_NONE, "pmaddwd %xmm1, %xmm0")                                                    \
	X(pmaddubsw, K_INT, I_NONE, "pmaddubsw %xmm1, %xmm0")                                                \
	X(pmulhrsw, K_INT, I_NONE, "pmulhrsw %xmm1, %xmm0")                                                  \
	X(psadbw, K_INT, I_NONE, "psadbw %xmm1, %xmm0")                                                      \
	X(pand, K_INT, I_NONE, "pand %xmm1, %xmm0")                                                          \
	X(pandn, K_INT, I_NONE, "pandn %xmm1, %xmm0")                                                        \
	X(por, K_INT, I_NONE, "por %xmm1, %xmm0")                                                            \
	X(pxor, K_INT, I_NONE, "pxor %xmm1, %xmm0")                                                          \
	X(psignb, K_INT, I_NONE, "psignb %xmm1, %xmm0")                                                      \
	X(psignw, K_INT, I_NONE, "psignw %xmm1, %xmm0")                                                      \
	X(psignd, K_INT, I_NONE, "psignd %xmm1, %xmm0")                                                      \
	X(pabsb, K_INT, I_NONE, "pabsb %xmm1, %xmm0")                                                        \
	X(pabsw, K_INT, I_NONE, "pabsw %xmm1, %xmm0")                                                        \
	X(pabsd, K_INT, I_NONE, "pabsd %xmm1, %xmm0")                                                        \
	X(phaddw, K_INT, I_NONE, "phaddw %xmm1, %xmm0")                                                      \
	X(phaddd, K_INT, I_NONE, "phaddd %xmm1, %xmm0")                                                      \
	X(phaddsw, K_INT, I_NONE, "phaddsw %xmm1, %xmm0")                                                    \
	X(phsubw, K_INT, I_NONE, "phsubw %xmm1, %xmm0")                                                      \
	X(phsubd, K_INT, I_NONE, "phsubd %xmm1, %xmm0")                                                      \
	X(phsubsw, K_INT, I_NONE, "phsubsw %xmm1, %xmm0")                                                    \
	X(pshufb, K_INT, I_NONE, "pshufb %xmm1, %xmm0")                                                      \
	X(punpcklbw, K_INT, I_NONE, "punpcklbw %xmm1, %xmm0")                                                \
	X(punpcklwd, K_INT, I_NONE, "punpcklwd %xmm1, %xmm0")                                                \
	X(punpckldq, K_INT, I_NONE, "punpckldq %xmm1, %xmm0")                                                \
	X(punpcklqdq, K_INT, I_NONE, "punpcklqdq %xmm1, %xmm0")                                              \
	X(punpckhbw, K_INT, I_NONE, "punpckhbw %xmm1, %xmm0")                                                \
	X(punpckhwd, K_INT, I_NONE, "punpckhwd %xmm1, %xmm0")                                                \
	X(punpckhdq, K_INT, I_NONE, "punpckhdq %xmm1, %xmm0")                                                \
	X(punpckhqdq, K_INT, I_NONE, "punpckhqdq %xmm1, %xmm0")                                              \
	X(packsswb, K_INT, I_NONE, "packsswb %xmm1, %xmm0")                                                  \
	X(packssdw, K_INT, I_NONE, "packssdw %xmm1, %xmm0")                                                  \
	X(packuswb, K_INT, I_NONE, "packuswb %xmm1, %xmm0")                                                  \
	X(packusdw, K_INT, I_NONE, "packusdw %xmm1, %xmm0")                                                  \
	X(psllw, K_INT, I_NONE, "psllw %xmm1, %xmm0")                                                        \
	X(pslld, K_INT, I_NONE, "pslld %xmm1, %xmm0")                                                        \
	X(psllq, K_INT, I_NONE, "psllq %xmm1, %xmm0")                                                        \
	X(psrlw, K_INT, I_NONE, "psrlw %xmm1, %xmm0")                                                        \
	X(psrld, K_INT, I_NONE, "psrld %xmm1, %xmm0")                                                        \
	X(psrlq, K_INT, I_NONE, "psrlq %xmm1, %xmm0")                                                        \
	X(psraw, K_INT, I_NONE, "psraw %xmm1, %xmm0")                                                        \
	X(psrad, K_INT, I_NONE, "psrad %xmm1, %xmm0")                                                        \
	X(psllwi, K_INT, I_SHIFT, "psllw $0, %xmm0")                                                         \
	X(pslldi, K_INT, I_SHIFT, "pslld $0, %xmm0")                                                         \
	X(psllqi, K_INT, I_SHIFT, "psllq $0, %xmm0")                                                         \
	X(psrlwi, K_INT, I_SHIFT, "psrlw $0, %xmm0")                                                         \
	X(psrldi, K_INT, I_SHIFT, "psrld $0, %xmm0")                                                         \
	X(psrlqi, K_INT, I_SHIFT, "psrlq $0, %xmm0")                                                         \
	X(psrawi, K_INT, I_SHIFT, "psraw $0, %xmm0")                                                         \
	X(psradi, K_INT, I_SHIFT, "psrad $0, %xmm0")                                                         \
	X(pslldq, K_INT, I_SHIFT, "pslldq $0, %xmm0")                                                        \
	X(psrldq, K_INT, I_SHIFT, "psrldq $0, %xmm0")                                                        \
	X(pshufd, K_INT, I_GEN, "pshufd $0, %xmm1, %xmm0")                                                   \
	X(pshuflw, K_INT, I_GEN, "pshuflw $0, %xmm1, %xmm0")                                                 \
	X(pshufhw, K_INT, I_GEN, "pshufhw $0, %xmm1, %xmm0")                                                 \
	X(palignr, K_INT, I_SHIFT, "palignr $0, %xmm1, %xmm0")                                               \
	X(pblendw, K_INT, I_GEN, "pblendw $0, %xmm1, %xmm0")                                                 \
	X(mpsadbw, K_INT, I_GEN, "mpsadbw $0, %xmm1, %xmm0")                                                 \
	X(phminposuw, K_INT, I_NONE, "phminposuw %xmm1, %xmm0")                                              \
	X(ptest, K_INT, I_NONE, "ptest %xmm1, %xmm0")                                                        \
	X(pblendvb, K_INT, I_NONE, "pblendvb %xmm0, %xmm2, %xmm1")                                           \
	X(pmovsxbw, K_INT, I_NONE, "pmovsxbw %xmm1, %xmm0")                                                  \
	X(pmovsxbd, K_INT, I_NONE, "pmovsxbd %xmm1, %xmm0")                                                  \
	X(pmovsxbq, K_INT, I_NONE, "pmovsxbq %xmm1, %xmm0")                                                  \
	X(pmovsxwd, K_INT, I_NONE, "pmovsxwd %xmm1, %xmm0")                                                  \
	X(pmovsxwq, K_INT, I_NONE, "pmovsxwq %xmm1, %xmm0")                                                  \
	X(pmovsxdq, K_INT, I_NONE, "pmovsxdq %xmm1, %xmm0")                                                  \
	X(pmovzxbw, K_INT, I_NONE, "pmovzxbw %xmm1, %xmm0")                                                  \
	X(pmovzxbd, K_INT, I_NONE, "pmovzxbd %xmm1, %xmm0")                                                  \
	X(pmovzxbqm, K_INT, I_NONE, "pmovzxbq (%rsi), %xmm0")                                                \
	X(pmovzxwdm, K_INT, I_NONE, "pmovzxwd (%rsi), %xmm0")                                                \
	X(pmovzxwq, K_INT, I_NONE, "pmovzxwq %xmm1, %xmm0")                                                  \
	X(pmovzxdq, K_INT, I_NONE, "pmovzxdq %xmm1, %xmm0")                                                  \
	X(pmovsxbqm, K_INT, I_NONE, "pmovsxbq (%rsi), %xmm0")                                                \
	X(pmovmskb, K_INT, I_NONE, "pmovmskb %xmm1, %eax")                                                   \
	X(pextrb, K_INT, I_GEN, "pextrb $0, %xmm1, %eax")                                                    \
	X(pextrbm, K_INT, I_GEN, "pextrb $0, %xmm1, (%rsi)")                                                 \
	X(pextrw, K_INT, I_GEN, "pextrw $0, %xmm1, %eax")                                                    \
	X(pextrwm, K_INT, I_GEN, "pextrw $0, %xmm1, (%rsi)")                                                 \
	X(pextrd, K_INT, I_GEN, "pextrd $0, %xmm1, %eax")                                                    \
	X(pextrq, K_INT, I_GEN, "pextrq $0, %xmm1, %rax")                                                    \
	X(pextrqm, K_INT, I_GEN, "pextrq $0, %xmm1, (%rsi)")                                                 \
	X(pinsrb, K_INT, I_GEN, "pinsrb $0, %eax, %xmm0")                                                    \
	X(pinsrbm, K_INT, I_GEN, "pinsrb $0, (%rsi), %xmm0")                                                 \
	X(pinsrw, K_INT, I_GEN, "pinsrw $0, %eax, %xmm0")                                                    \
	X(pinsrwm, K_INT, I_GEN, "pinsrw $0, (%rsi), %xmm0")                                                 \
	X(pinsrd, K_INT, I_GEN, "pinsrd $0, %eax, %xmm0")                                                    \
	X(pinsrq, K_INT, I_GEN, "pinsrq $0, %rax, %xmm0")                                                    \
	X(pinsrqm, K_INT, I_GEN, "pinsrq $0, (%rsi), %xmm0")                                                 \
	X(movd_to, K_INT, I_NONE, "movd %eax, %xmm0")                                                        \
	X(movq_to, K_INT, I_NONE, "movq %rax, %xmm0")                                                        \
	X(movd_from, K_INT, I_NONE, "movd %xmm1, %eax")                                                      \
	X(movq_xx, K_INT, I_NONE, "movq %xmm1, %xmm0")                                                       \
	X(movq_st, K_INT, I_NONE, "movq %xmm1, (%rsi)")                                                      \
	X(movdqa, K_INT, I_NONE, "movdqa (%rsi), %xmm0")                                                     \
	X(movdqu, K_INT, I_NONE, "movdqu 1(%rsi), %xmm0")                                                    \
	X(movntdq, K_INT, I_NONE, "movntdq %xmm1, (%rsi)")                                                   \
	X(movntdqa, K_INT, I_NONE, "movntdqa (%rsi), %xmm0")                                                 \
	X(lddqu, K_INT, I_NONE, "lddqu 3(%rsi), %xmm0")                                                      \
	X(movnti, K_INT, I_NONE, "movnti %rax, (%rsi)")                                                      \
	X(maskmovdqu, K_INT, I_NONE, "push %rdi; lea 0x70(%rdi), %rdi; maskmovdqu %xmm1, %xmm0; pop %rdi")   \
	X(movq2dq, K_INT, I_NONE, "movq2dq %mm1, %xmm0")                                                     \
	X(movdq2q, K_INT, I_NONE, "movdq2q %xmm1, %mm0")                                                     \
	X(pcmpestri, K_STR, I_STR, "pcmpestri $0, %xmm1, %xmm0")                                             \
	X(pcmpestrm, K_STR, I_STR, "pcmpestrm $0, %xmm1, %xmm0")                                             \
	X(pcmpistri, K_STR, I_STR, "pcmpistri $0, %xmm1, %xmm0")                                             \
	X(pcmpistrm, K_STR, I_STR, "pcmpistrm $0, %xmm1, %xmm0")                                             \
	X(pcmpestriq, K_STR, I_STR, "rex.w pcmpestri $0, (%rsi), %xmm0")                                     \
	X(m_paddb, K_INT, I_NONE, "paddb %mm1, %mm0")                                                        \
	X(m_paddsw, K_INT, I_NONE, "paddsw %mm1, %mm0")                                                      \
	X(m_paddusb, K_INT, I_NONE, "paddusb (%rsi), %mm0")                                                  \
	X(m_psubq, K_INT, I_NONE, "psubq %mm1, %mm0")                                                        \
	X(m_pcmpgtw, K_INT, I_NONE, "pcmpgtw %mm1, %mm0")                                                    \
	X(m_pmulhw, K_INT, I_NONE, "pmulhw %mm1, %mm0")                                                      \
	X(m_pmuludq, K_INT, I_NONE, "pmuludq %mm1, %mm0")                                                    \
	X(m_pmaddwd, K_INT, I_NONE, "pmaddwd %mm1, %mm0")                                                    \
	X(m_psadbw, K_INT, I_NONE, "psadbw %mm1, %mm0")                                                      \
	X(m_pavgw, K_INT, I_NONE, "pavgw %mm1, %mm0")                                                        \
	X(m_pminub, K_INT, I_NONE, "pminub %mm1, %mm0")                                                      \
	X(m_pandn, K_INT, I_NONE, "pandn %mm1, %mm0")                                                        \
	X(m_punpcklbw, K_INT, I_NONE, "punpcklbw (%rsi), %mm0")                                              \
	X(m_punpckhdq, K_INT, I_NONE, "punpckhdq %mm1, %mm0")                                                \
	X(m_packsswb, K_INT, I_NONE, "packsswb %mm1, %mm0")                                                  \
	X(m_packuswb, K_INT, I_NONE, "packuswb %mm1, %mm0")                                                  \
	X(m_psrlw, K_INT, I_NONE, "psrlw %mm1, %mm0")                                                        \
	X(m_psrad, K_INT, I_NONE, "psrad %mm1, %mm0")                                                        \
	X(m_psllqi, K_INT, I_SHIFT, "psllq $0, %mm0")                                                        \
	X(m_psrawi, K_INT, I_SHIFT, "psraw $0, %mm0")                                                        \
	X(m_pshufw, K_INT, I_GEN, "pshufw $0, %mm1, %mm0")                                                   \
	X(m_pinsrw, K_INT, I_GEN, "pinsrw $0, %eax, %mm0")                                                   \
	X(m_pextrw, K_INT, I_GEN, "pextrw $0, %mm1, %eax")                                                   \
	X(m_pmovmskb, K_INT, I_NONE, "pmovmskb %mm1, %eax")                                                  \
	X(m_pshufb, K_INT, I_NONE, "pshufb %mm1, %mm0")                                                      \
	X(m_phaddsw, K_INT, I_NONE, "phaddsw %mm1, %mm0")                                                    \
	X(m_phsubd, K_INT, I_NONE, "phsubd %mm1, %mm0")                                                      \
	X(m_pmaddubsw, K_INT, I_NONE, "pmaddubsw %mm1, %mm0")                                                \
	X(m_pmulhrsw, K_INT, I_NONE, "pmulhrsw %mm1, %mm0")                                                  \
	X(m_psignw, K_INT, I_NONE, "psignw %mm1, %mm0")                                                      \
	X(m_pabsb, K_INT, I_NONE, "pabsb %mm1, %mm0")                                                        \
	X(m_palignr, K_INT, I_SHIFT, "palignr $0, %mm1, %mm0")                                               \
	X(m_movntq, K_INT, I_NONE, "movntq %mm1, (%rsi)")                                                    \
	X(m_maskmovq, K_INT, I_NONE, "push %rdi; lea 0x70(%rdi), %rdi; maskmovq %mm1, %mm0; pop %rdi")       \
	X(m_movd, K_INT, I_NONE, "movd %eax, %mm0")                                                          \
	X(m_top, K_INT, I_NONE, "fld1; fldz; paddb %mm1, %mm0")                                              \
	X(m_top_movd, K_INT, I_NONE, "fld1; movd %mm1, %eax")                                                \
	X(m_top_pxor, K_INT, I_NONE, "fldz; fldz; fldz; pxor %mm0, %mm1")                                    \
	X(m_pxor, K_INT, I_NONE, "pxor %mm1, %mm0")                                                          \
	FLOAT_CASES(X)

#define FLOAT_CASES(X)                                                                                       \
	X(andpd, K_D, I_NONE, "andpd %xmm1, %xmm0")                                                          \
	X(andnps, K_S, I_NONE, "andnps (%rsi), %xmm0")                                                       \
	X(orpd, K_D, I_NONE, "orpd %xmm1, %xmm0")                                                            \
	X(xorps, K_S, I_NONE, "xorps %xmm1, %xmm0")                                                          \
	X(xorpd, K_D, I_NONE, "xorpd (%rsi), %xmm0")                                                         \
	X(movntpd, K_D, I_NONE, "movntpd %xmm1, (%rsi)")                                                     \
	X(movlpd, K_D, I_NONE, "movlpd (%rsi), %xmm0")                                                       \
	X(movhpd, K_D, I_NONE, "movhpd (%rsi), %xmm0")                                                       \
	X(movlps_st, K_S, I_NONE, "movlps %xmm1, (%rsi)")                                                    \
	X(movhps_st, K_S, I_NONE, "movhps %xmm1, (%rsi)")                                                    \
	X(movss, K_S, I_NONE, "movss %xmm1, %xmm0")                                                          \
	X(movssm, K_S, I_NONE, "movss (%rsi), %xmm0")                                                        \
	X(movsd_st, K_D, I_NONE, "movsd %xmm1, (%rsi)")                                                      \
	X(movaps, K_S, I_NONE, "movaps (%rsi), %xmm0")                                                       \
	X(movupd, K_D, I_NONE, "movupd 4(%rsi), %xmm0")                                                      \
	X(extractpsm, K_S, I_GEN, "extractps $0, %xmm1, (%rsi)")                                             \
	X(pextrdm, K_INT, I_GEN, "pextrd $0, %xmm1, (%rsi)")                                                 \
	X(pinsrdm, K_INT, I_GEN, "pinsrd $0, (%rsi), %xmm0")                                                 \
	X(pextrw3a, K_INT, I_GEN, ".byte 0x66, 0x0f, 0x3a, 0x15, 0xc8, 0")                                   \
	X(movd_mm_from, K_INT, I_NONE, "movd %mm1, %eax")                                                    \
	X(movq_mm_st, K_INT, I_NONE, "movq %mm1, (%rsi)")                                                    \
	X(andps, K_S, I_NONE, "andps %xmm1, %xmm0")                                                          \
	X(andnpd, K_D, I_NONE, "andnpd %xmm1, %xmm0")                                                        \
	X(orps, K_S, I_NONE, "orps %xmm1, %xmm0")                                                            \
	X(shufps, K_S, I_GEN, "shufps $0, %xmm1, %xmm0")                                                     \
	X(shufpd, K_D, I_GEN, "shufpd $0, %xmm1, %xmm0")                                                     \
	X(unpcklps, K_S, I_NONE, "unpcklps %xmm1, %xmm0")                                                    \
	X(unpckhps, K_S, I_NONE, "unpckhps %xmm1, %xmm0")                                                    \
	X(unpcklpd, K_D, I_NONE, "unpcklpd %xmm1, %xmm0")                                                    \
	X(unpckhpd, K_D, I_NONE, "unpckhpd %xmm1, %xmm0")                                                    \
	X(movhlps, K_S, I_NONE, "movhlps %xmm1, %xmm0")                                                      \
	X(movlhps, K_S, I_NONE, "movlhps %xmm1, %xmm0")                                                      \
	X(movlps, K_S, I_NONE, "movlps (%rsi), %xmm0")                                                       \
	X(movhps, K_S, I_NONE, "movhps (%rsi), %xmm0")                                                       \
	X(movlpd_st, K_D, I_NONE, "movlpd %xmm1, (%rsi)")                                                    \
	X(movhpd_st, K_D, I_NONE, "movhpd %xmm1, (%rsi)")                                                    \
	X(movsldup, K_S, I_NONE, "movsldup %xmm1, %xmm0")                                                    \
	X(movshdup, K_S, I_NONE, "movshdup %xmm1, %xmm0")                                                    \
	X(movddup, K_D, I_NONE, "movddup (%rsi), %xmm0")                                                     \
	X(movmskps, K_S, I_NONE, "movmskps %xmm1, %eax")                                                     \
	X(movmskpd, K_D, I_NONE, "movmskpd %xmm1, %eax")                                                     \
	X(movntps, K_S, I_NONE, "movntps %xmm1, (%rsi)")                                                     \
	X(blendps, K_S, I_GEN, "blendps $0, %xmm1, %xmm0")                                                   \
	X(blendpd, K_D, I_GEN, "blendpd $0, %xmm1, %xmm0")                                                   \
	X(blendvps, K_S, I_NONE, "blendvps %xmm0, %xmm2, %xmm1")                                             \
	X(blendvpd, K_D, I_NONE, "blendvpd %xmm0, %xmm2, %xmm1")                                             \
	X(insertps, K_S, I_ALL, "insertps $0, %xmm1, %xmm0")                                                 \
	X(insertpsm, K_S, I_GEN, "insertps $0, (%rsi), %xmm0")                                               \
	X(extractps, K_S, I_GEN, "extractps $0, %xmm1, %eax")                                                \
	X(cmpps, K_S, I_CMP, "cmpps $0, %xmm1, %xmm0")                                                       \
	X(cmppd, K_D, I_CMP, "cmppd $0, %xmm1, %xmm0")                                                       \
	X(cmpss, K_S, I_CMP, "cmpss $0, %xmm1, %xmm0")                                                       \
	X(cmpsd, K_D, I_CMP, "cmpsd $0, (%rsi), %xmm0")                                                      \
	X(minps, K_S, I_NONE, "minps %xmm1, %xmm0")                                                          \
	X(maxps, K_S, I_NONE, "maxps %xmm1, %xmm0")                                                          \
	X(minsd, K_D, I_NONE, "minsd %xmm1, %xmm0")                                                          \
	X(maxsd, K_D, I_NONE, "maxsd (%rsi), %xmm0")                                                         \
	X(comiss, K_S, I_NONE, "comiss %xmm1, %xmm0")                                                        \
	X(ucomiss, K_S, I_NONE, "ucomiss %xmm1, %xmm0")                                                      \
	X(comisd, K_D, I_NONE, "comisd %xmm1, %xmm0")                                                        \
	X(ucomisd, K_D, I_NONE, "ucomisd (%rsi), %xmm0")

/* Arithmetic that needs the soft-float core. */
#define ARITH_CASES(X)                                                                                       \
	X(addps, K_S, I_NONE, "addps %xmm1, %xmm0")                                                          \
	X(addpd, K_D, I_NONE, "addpd %xmm1, %xmm0")                                                          \
	X(addss, K_S, I_NONE, "addss %xmm1, %xmm0")                                                          \
	X(addsd, K_D, I_NONE, "addsd %xmm1, %xmm0")                                                          \
	X(subps, K_S, I_NONE, "subps %xmm1, %xmm0")                                                          \
	X(subsd, K_D, I_NONE, "subsd %xmm1, %xmm0")                                                          \
	X(mulps, K_S, I_NONE, "mulps %xmm1, %xmm0")                                                          \
	X(mulpd, K_D, I_NONE, "mulpd %xmm1, %xmm0")                                                          \
	X(mulss, K_S, I_NONE, "mulss (%rsi), %xmm0")                                                         \
	X(divps, K_S, I_NONE, "divps %xmm1, %xmm0")                                                          \
	X(divsd, K_D, I_NONE, "divsd %xmm1, %xmm0")                                                          \
	X(sqrtps, K_S, I_NONE, "sqrtps %xmm1, %xmm0")                                                        \
	X(sqrtsd, K_D, I_NONE, "sqrtsd %xmm1, %xmm0")                                                        \
	X(addsubps, K_S, I_NONE, "addsubps %xmm1, %xmm0")                                                    \
	X(addsubpd, K_D, I_NONE, "addsubpd %xmm1, %xmm0")                                                    \
	X(haddps, K_S, I_NONE, "haddps %xmm1, %xmm0")                                                        \
	X(hsubpd, K_D, I_NONE, "hsubpd %xmm1, %xmm0")                                                        \
	X(dpps, K_S, I_GEN, "dpps $0, %xmm1, %xmm0")                                                         \
	X(dppd, K_D, I_GEN, "dppd $0, %xmm1, %xmm0")                                                         \
	X(roundps, K_S, I_ROUND, "roundps $0, %xmm1, %xmm0")                                                 \
	X(roundpd, K_D, I_ROUND, "roundpd $0, %xmm1, %xmm0")                                                 \
	X(roundss, K_S, I_ROUND, "roundss $0, %xmm1, %xmm0")                                                 \
	X(roundsd, K_D, I_ROUND, "roundsd $0, (%rsi), %xmm0")                                                \
	X(cvtsi2ss, K_SI, I_NONE, "cvtsi2ss %eax, %xmm0")                                                    \
	X(cvtsi2ssq, K_SI, I_NONE, "cvtsi2ssq %rax, %xmm0")                                                  \
	X(cvtsi2sd, K_DI, I_NONE, "cvtsi2sd %eax, %xmm0")                                                    \
	X(cvtsi2sdq, K_DI, I_NONE, "cvtsi2sdq %rax, %xmm0")                                                  \
	X(cvtss2si, K_S, I_NONE, "cvtss2si %xmm1, %eax")                                                     \
	X(cvttss2siq, K_S, I_NONE, "cvttss2si %xmm1, %rax")                                                  \
	X(cvtsd2siq, K_D, I_NONE, "cvtsd2si %xmm1, %rax")                                                    \
	X(cvttsd2si, K_D, I_NONE, "cvttsd2si (%rsi), %eax")                                                  \
	X(cvtps2pd, K_S, I_NONE, "cvtps2pd %xmm1, %xmm0")                                                    \
	X(cvtpd2ps, K_D, I_NONE, "cvtpd2ps %xmm1, %xmm0")                                                    \
	X(cvtss2sd, K_S, I_NONE, "cvtss2sd %xmm1, %xmm0")                                                    \
	X(cvtsd2ss, K_D, I_NONE, "cvtsd2ss %xmm1, %xmm0")                                                    \
	X(cvtdq2ps, K_SI, I_NONE, "cvtdq2ps %xmm1, %xmm0")                                                   \
	X(cvtps2dq, K_S, I_NONE, "cvtps2dq %xmm1, %xmm0")                                                    \
	X(cvttps2dq, K_S, I_NONE, "cvttps2dq %xmm1, %xmm0")                                                  \
	X(cvtdq2pd, K_DI, I_NONE, "cvtdq2pd %xmm1, %xmm0")                                                   \
	X(cvtpd2dq, K_D, I_NONE, "cvtpd2dq %xmm1, %xmm0")                                                    \
	X(cvttpd2dq, K_D, I_NONE, "cvttpd2dq %xmm1, %xmm0")                                                  \
	X(cvtpi2ps, K_SI, I_NONE, "cvtpi2ps %mm1, %xmm0")                                                    \
	X(cvtpi2pd, K_DI, I_NONE, "cvtpi2pd %mm1, %xmm0")                                                    \
	X(cvtps2pi, K_S, I_NONE, "cvtps2pi %xmm1, %mm0")                                                     \
	X(cvttpd2pi, K_D, I_NONE, "cvttpd2pi %xmm1, %mm0")                                                   \
	X(subpd, K_D, I_NONE, "subpd %xmm1, %xmm0")                                                          \
	X(subss, K_S, I_NONE, "subss %xmm1, %xmm0")                                                          \
	X(mulsd, K_D, I_NONE, "mulsd (%rsi), %xmm0")                                                         \
	X(divss, K_S, I_NONE, "divss %xmm1, %xmm0")                                                          \
	X(divpd, K_D, I_NONE, "divpd (%rsi), %xmm0")                                                         \
	X(sqrtss, K_S, I_NONE, "sqrtss (%rsi), %xmm0")                                                       \
	X(sqrtpd, K_D, I_NONE, "sqrtpd %xmm1, %xmm0")                                                        \
	X(minss, K_S, I_NONE, "minss (%rsi), %xmm0")                                                         \
	X(maxss, K_S, I_NONE, "maxss %xmm1, %xmm0")                                                          \
	X(minpd, K_D, I_NONE, "minpd %xmm1, %xmm0")                                                          \
	X(maxpd, K_D, I_NONE, "maxpd %xmm1, %xmm0")                                                          \
	X(haddpd, K_D, I_NONE, "haddpd %xmm1, %xmm0")                                                        \
	X(hsubps, K_S, I_NONE, "hsubps (%rsi), %xmm0")                                                       \
	X(cvtpd2pi, K_D, I_NONE, "cvtpd2pi (%rsi), %mm0")                                                    \
	X(cvttps2pi, K_S, I_NONE, "cvttps2pi %xmm1, %mm0")                                                   \
	X(cvtsi2sdm, K_DI, I_NONE, "cvtsi2sdl (%rsi), %xmm0")                                                \
	X(cvtss2siq, K_S, I_NONE, "cvtss2si (%rsi), %rax")                                                   \
	X(cvtsd2si, K_D, I_NONE, "cvtsd2si %xmm1, %eax")                                                     \
	X(cvtps2pdm, K_S, I_NONE, "cvtps2pd (%rsi), %xmm0")                                                  \
	X(cvtdq2pdm, K_DI, I_NONE, "cvtdq2pd (%rsi), %xmm0")                                                 \
	X(rcpps, K_APPROX, I_NONE, "rcpps %xmm1, %xmm0")                                                     \
	X(rcpss, K_APPROX, I_NONE, "rcpss (%rsi), %xmm0")                                                    \
	X(rsqrtps, K_APPROX, I_NONE, "rsqrtps %xmm1, %xmm0")                                                 \
	X(rsqrtss, K_APPROX, I_NONE, "rsqrtss %xmm1, %xmm0")

#define DECLARE(id, k, im, text)                                                                             \
	extern const uint8_t c_##id[], c_##id##_end[];                                                       \
	__asm__(".pushsection .rodata\nc_" #id ":\n" text "\nc_" #id "_end:\n.popsection");
#define ROW(id, k, im, text) {#id, c_##id, c_##id##_end, k, im},

CASES(DECLARE)
ARITH_CASES(DECLARE)

struct sweep_case {
	const char *name;
	const uint8_t *code, *end;
	enum kind kind;
	enum imms imms;
};

static const struct sweep_case cases[] = {CASES(ROW) ARITH_CASES(ROW)};

static uint8_t *native_page;
static unsigned long runs, xm_runs, mismatches, emu_failures;

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

/* clang-format off */
static const uint32_t edge_s[] = {
    0x00000000, 0x80000000, 0x3f800000, 0xbf800000, 0x3fc00000, 0x00000001, 0x807fffff, 0x00800000,
    0x80800000, 0x7f7fffff, 0xff7fffff, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc12345, 0x7f800001,
    0xff812345, 0x3f800001, 0x4b000000, 0x4b7fffff, 0x40200000, 0xc0200000, 0x3f000000, 0x3effffff,
    0x4effffff, 0x4f000000, 0xcf000000, 0xcf000001, 0x5effffff, 0x5f000000, 0xdf000000, 0x1f800000,
    0x00400000, 0x00800001, 0x3fffffff, 0x7effffff, 0x0c000000, 0x33800000, 0x40400000, 0xc0400000,
};
static const uint64_t edge_d[] = {
    0x0000000000000000ull, 0x8000000000000000ull, 0x3ff0000000000000ull, 0xbff0000000000000ull,
    0x3ff8000000000000ull, 0x0000000000000001ull, 0x800fffffffffffffull, 0x0010000000000000ull,
    0x8010000000000000ull, 0x7fefffffffffffffull, 0xffefffffffffffffull, 0x7ff0000000000000ull,
    0xfff0000000000000ull, 0x7ff8000000000000ull, 0xfff8000000012345ull, 0x7ff0000000000001ull,
    0xfff0000000012345ull, 0x3ff0000000000001ull, 0x4330000000000000ull, 0x433fffffffffffffull,
    0x4004000000000000ull, 0xc004000000000000ull, 0x3fe0000000000000ull, 0x3fdfffffffffffffull,
    0x41dfffffffc00000ull, 0x41e0000000000000ull, 0xc1e0000000000000ull, 0xc1e0000000200000ull,
    0x43dfffffffffffffull, 0x43e0000000000000ull, 0xc3e0000000000000ull, 0x2000000000000000ull,
    0x0008000000000000ull, 0x0010000000000001ull, 0x47efffffe0000000ull, 0x36a0000000000000ull,
    0x3810000000000000ull, 0x380fffffffffffffull, 0x4008000000000000ull, 0x7fe0000000000000ull,
};
static const uint64_t edge_i[] = {
    0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff,
    0x7fffffffffffffffull, 0x8000000000000000ull, ~0ull, 0x8000000000000001ull, 0x0101010101010101ull,
    0x8080808080808080ull, 0x7f7f7f7f7f7f7f7full, 0x8000800080008000ull, 0x7fff7fff7fff7fffull,
    0x16777217, 0x20000001ull << 32 | 1, 0xffffffff80000000ull,
};
/* clang-format on */

static uint64_t rand_lane(enum kind kind, unsigned w)
{
	uint64_t r = rng();
	switch (kind) {
	case K_S:
	case K_APPROX:
		if (w == 4 && (r & 3))
			return edge_s[(r >> 8) % (sizeof(edge_s) / sizeof(edge_s[0]))] ^ ((r & 0x30) == 0x10);
		break;
	case K_D:
		if (w == 8 && (r & 3))
			return edge_d[(r >> 8) % (sizeof(edge_d) / sizeof(edge_d[0]))] ^ ((r & 0x30) == 0x10);
		break;
	case K_STR: /* a small alphabet with zeros, so that matches and ends are common */
		if (w == 1) {
			static const uint8_t alpha[8] = {0, 'a', 'b', 'c', 'a', 'b', 0x80, 0xff};
			return (r & 15) == 0 ? r >> 32 : alpha[(r >> 8) & 7];
		}
		break;
	default:
		if (r & 1)
			return edge_i[(r >> 8) % (sizeof(edge_i) / sizeof(edge_i[0]))] >>
			       (r & 2 ? 0 : 8 * ((r >> 4) & 7));
	}
	return rng();
}

static void fill(uint8_t *p, unsigned n, enum kind kind)
{
	unsigned w = kind == K_S || kind == K_APPROX ? 4
	             : kind == K_D                   ? 8
	             : kind == K_STR                 ? 1
	                                             : 1u << (rng() & 3);
	for (unsigned k = 0; k < n; k += w) {
		uint64_t v = rand_lane(kind, w);
		for (unsigned j = 0; j < w; j++)
			p[k + j] = (uint8_t)(v >> (8 * j));
	}
}

static void make_input(struct block *b, enum kind kind, uint32_t mxcsr)
{
	memset(b, 0, sizeof(*b));
	for (unsigned r = 0; r < 3; r++)
		fill(b->xmm[r], 16, kind);
	fill(b->mm[0], 8, kind);
	fill(b->mm[1], 8, kind);
	fill(b->mem, 32, kind);
	if (rng() % 4 == 0) /* equal operands: compares, PTEST and string matches */
		memcpy(b->xmm[1], b->xmm[0], 16);
	b->rax = rand_lane(kind == K_SI || kind == K_DI ? K_INT : kind, 8);
	b->rcx = rng();
	b->rdx = rng();
	if (kind == K_STR) { /* explicit lengths around the limits, either sign */
		b->rax = (uint64_t)((int64_t)(rng() % 41) - 20);
		b->rdx = (uint64_t)((int64_t)(rng() % 41) - 20);
		if (rng() & 1)
			b->rax = (uint32_t)b->rax;
	}
	b->rflags = 0x202 | (rng() & 0x8d5);
	b->mxcsr = mxcsr;
}

/* An unmasked SIMD exception on the host: #XM arrives as SIGFPE; the handler keeps MXCSR, xmm0-2
 * and where it happened, and jumps back. */
static sigjmp_buf fpe_jump;
static struct block *fpe_block;
static uint64_t fpe_rip;

static void on_fpe(int sig, siginfo_t *info, void *ctx)
{
	ucontext_t *uc = ctx;
	(void)sig;
	(void)info;
	fpe_block->mxcsr = uc->uc_mcontext.fpregs->mxcsr;
	for (unsigned r = 0; r < 3; r++)
		memcpy(fpe_block->xmm[r], uc->uc_mcontext.fpregs->_xmm[r].element, 16);
	fpe_rip = (uint64_t)uc->uc_mcontext.gregs[REG_RIP];
	siglongjmp(fpe_jump, 1);
}

/* Returns the offset of the instruction that raised #XM, or -1. */
static long native_run(const struct sweep_case *c, uint8_t imm, struct block *b)
{
	unsigned pl = (unsigned)(sse_prologue_end - sse_prologue), il = (unsigned)(c->end - c->code);
	unsigned el = (unsigned)(sse_epilogue_end - sse_epilogue);
	memcpy(native_page, sse_prologue, pl);
	memcpy(native_page + pl, c->code, il);
	if (c->imms != I_NONE)
		native_page[pl + il - 1] = imm;
	memcpy(native_page + pl + il, sse_epilogue, el);
	native_page[pl + il + el] = 0xc3;
	void (*fn)(struct block *);
	memcpy(&fn, &native_page, sizeof(fn));
	fpe_block = b;
	if (sigsetjmp(fpe_jump, 1)) {
		__asm__ volatile("ldmxcsr %0" : : "m"((uint32_t){0x1f80}));
		return (long)(fpe_rip - (uint64_t)(uintptr_t)native_page);
	}
	fn(b);
	__asm__ volatile("ldmxcsr %0" : : "m"((uint32_t){0x1f80}));
	return -1;
}

/* Runs the same bytes in emu; false when emu stopped short (but for #XM, whose offset goes to *xm). */
static bool emu_run(const struct sweep_case *c, uint8_t imm, struct block *b, long *xm, char *why,
                    size_t whylen)
{
	unsigned pl = (unsigned)(sse_prologue_end - sse_prologue), il = (unsigned)(c->end - c->code);
	unsigned el = (unsigned)(sse_epilogue_end - sse_epilogue);
	struct x86_state st;
	th_reset();
	th_state(&st, X86_MODE_LONG64);
	st.cr0 |= X86_CR0_NE | X86_CR0_MP;
	st.cr4 |= X86_CR4_OSFXSR | (1ull << 10);
	st.gpr[X86_RDI] = BLOCK_ADDR;
	memcpy(th.mem + TH_CODE, sse_prologue, pl);
	memcpy(th.mem + TH_CODE + pl, c->code, il);
	if (c->imms != I_NONE)
		th.mem[TH_CODE + pl + il - 1] = imm;
	memcpy(th.mem + TH_CODE + pl + il, sse_epilogue, el);
	memcpy(th.mem + BLOCK_ADDR, b, sizeof(*b));
	struct emu_ctxt ctx = {.st = &st, .ops = &th_ops, .opaque = &th};
	for (unsigned n = 0; st.rip != TH_CODE + pl + il + el; n++) {
		enum emu_status rc = emu_step(&ctx);
		if (rc == EMU_EXCEPTION && ctx.event.vector == 19) {
			*xm = (long)(st.rip - TH_CODE);
			b->mxcsr = st.fpu.mxcsr;
			memcpy(b->xmm, st.fpu.xmm, sizeof(b->xmm));
			return true;
		}
		if (rc != EMU_OK || n > 64) {
			snprintf(why, whylen, "emu stopped at +%lld: %s (vector %u) %s",
			         (long long)(st.rip - TH_CODE - pl), emu_status_name(rc), ctx.event.vector,
			         ctx.info.unimplemented);
			return false;
		}
	}
	memcpy(b, th.mem + BLOCK_ADDR, sizeof(*b));
	return true;
}

static void dump(const char *what, const struct block *b)
{
	fprintf(stderr, "  %s: xmm0 ", what);
	for (unsigned k = 16; k-- > 0;)
		fprintf(stderr, "%02x", b->xmm[0][k]);
	fprintf(stderr, " xmm1 ");
	for (unsigned k = 16; k-- > 0;)
		fprintf(stderr, "%02x", b->xmm[1][k]);
	fprintf(stderr, " mm0 ");
	for (unsigned k = 8; k-- > 0;)
		fprintf(stderr, "%02x", b->mm[0][k]);
	fprintf(stderr, " rax %llx rcx %llx fl %llx mxcsr %x mem ", (unsigned long long)b->rax,
	        (unsigned long long)b->rcx, (unsigned long long)b->rflags, b->mxcsr);
	for (unsigned k = 16; k-- > 0;)
		fprintf(stderr, "%02x", b->mem[k]);
	fprintf(stderr, "\n");
}

/* RCP/RSQRT: special values exactly, others within twice the architectural error of the host's. */
static bool close_enough(const uint8_t *want, const uint8_t *got)
{
	for (unsigned k = 0; k < 16; k += 4) {
		uint32_t a, b;
		float fa, fb;
		memcpy(&a, want + k, 4);
		memcpy(&b, got + k, 4);
		memcpy(&fa, &a, 4);
		memcpy(&fb, &b, 4);
		bool special = !(a & 0x7f800000u) || (a & 0x7f800000u) == 0x7f800000u;
		if (special ? a != b
		            : (a ^ b) >> 31 || fabs((double)fa - (double)fb) > fabs((double)fa) * 0x1p-10)
			return false;
	}
	return true;
}

static void check_one(const struct sweep_case *c, uint8_t imm, uint32_t mxcsr)
{
	struct block in, want, got;
	char why[200];
	make_input(&in, c->kind, mxcsr);
	want = in;
	got = in;
	long want_xm = native_run(c, imm, &want), got_xm = -1;
	runs++;
	if (want_xm >= 0)
		xm_runs++;
	if (!emu_run(c, imm, &got, &got_xm, why, sizeof(why))) {
		if (emu_failures++ < 40)
			fprintf(stderr, "%s imm %#x: %s\n", c->name, imm, why);
		mismatches++;
		return;
	}
	want.rflags &= 0x8d5;
	got.rflags &= 0x8d5;
	if (c->kind == K_APPROX && close_enough(want.xmm[0], got.xmm[0]))
		memcpy(got.xmm[0], want.xmm[0], 16);
	if (want_xm >= 0 || got_xm >= 0) { /* after #XM only MXCSR and the XMM registers are defined */
		if (want_xm == got_xm && want.mxcsr == got.mxcsr &&
		    !memcmp(want.xmm, got.xmm, sizeof(want.xmm)))
			return;
	} else if (!memcmp(&want, &got, sizeof(want))) {
		return;
	}
	if (mismatches++ < 40) {
		fprintf(stderr, "%s imm %#x mxcsr %#x differs (#XM at %ld/%ld)\n", c->name, imm, mxcsr,
		        want_xm, got_xm);
		dump("input", &in);
		dump("host ", &want);
		dump("emu  ", &got);
	}
}

static unsigned imm_list(enum imms set, uint8_t *out)
{
	static const uint8_t gen[] = {0,    1,    2,    3,    4,    5,    7,    8,    9,    0x0f, 0x10, 0x11,
	                              0x1b, 0x31, 0x4e, 0x55, 0x72, 0x80, 0x93, 0xaa, 0xc6, 0xe4, 0xf1, 0xff};
	static const uint8_t shift[] = {0,  1,  2,  3,  4,  7,  8,  9,  15,  16,
	                                17, 23, 31, 32, 33, 63, 64, 65, 127, 255};
	unsigned n = 0;
	switch (set) {
	case I_NONE:
		out[n++] = 0;
		break;
	case I_GEN:
		memcpy(out, gen, sizeof(gen));
		n = sizeof(gen);
		break;
	case I_SHIFT:
		memcpy(out, shift, sizeof(shift));
		n = sizeof(shift);
		break;
	case I_CMP:
		for (; n < 8; n++)
			out[n] = (uint8_t)n;
		break;
	case I_ROUND:
		for (; n < 16; n++)
			out[n] = (uint8_t)n;
		break;
	case I_STR:
		for (; n < 128; n++)
			out[n] = (uint8_t)n;
		break;
	case I_ALL:
		for (; n < 256; n++)
			out[n] = (uint8_t)n;
		break;
	}
	return n;
}

static void test_sweep(void **state)
{
	(void)state;
	uint8_t imms[256];
	/* after cmocka's own handler, which this one replaces for the test */
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_fpe;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGFPE, &sa, NULL);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct sweep_case *c = &cases[i];
		bool fp = c->kind != K_INT && c->kind != K_STR;
		unsigned n_imm = imm_list(c->imms, imms);
		unsigned per = fp ? (n_imm > 16 ? 2 : 8) : (n_imm > 16 ? 6 : 150);
		for (unsigned m = 0; m < (fp ? 16u + 4 * 16 : 1u); m++) {
			/* rounding m & 3, DAZ m & 4, FTZ m & 8; from 16 on, some exceptions unmasked */
			static const uint32_t masks[5] = {0x1f80, 0, 0x1000, 0x1800, 0x0600};
			uint32_t mxcsr =
			    masks[m / 16] | (m & 3) << 13 | ((m & 4) ? 0x40 : 0) | ((m & 8) ? 0x8000 : 0);
			for (unsigned k = 0; k < n_imm; k++)
				for (unsigned r = 0; r < per; r++)
					check_one(c, imms[k], mxcsr);
		}
	}
	printf("test_sse_sweep: %zu instructions, %lu runs (%lu raised #XM on the host), %lu mismatches\n",
	       sizeof(cases) / sizeof(cases[0]), runs, xm_runs, mismatches);
	assert_int_equal(mismatches, 0);
}

int main(void)
{
	__builtin_cpu_init();
	if (!__builtin_cpu_supports("sse4.2")) {
		fprintf(stderr, "test_sse_sweep: the host lacks SSE4.2: skipped\n");
		return 77;
	}
	native_page =
	    mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (native_page == MAP_FAILED) {
		fprintf(stderr, "test_sse_sweep: cannot map an executable page: skipped\n");
		return 77;
	}
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sweep),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
