/* The x87 edge operands (mantissa, sign and exponent) both the emu sweep and the Unicorn sweep run over:
 * zeros, denormals, pseudo-denormals, extremes, infinities, NaNs, unnormals, rounding ties. */
#ifndef EMUDIFF_EMU_TESTS_X87_EDGES_H
#define EMUDIFF_EMU_TESTS_X87_EDGES_H

#include <stdint.h>

/* clang-format off */
static const struct { uint64_t mant; uint16_t se; } x87_edges[] = {
    {0, 0}, {0, 0x8000},                                              /* zeros */
    {1, 0}, {1, 0x8000}, {0x7fffffffffffffffull, 0},                  /* denormals */
    {0x8000000000000000ull, 0}, {0xc000000000000000ull, 0x8000},      /* pseudo-denormals */
    {0x8000000000000000ull, 1}, {0x8000000000000000ull, 0x8001},      /* smallest normals */
    {0xffffffffffffffffull, 0x7ffe}, {0xffffffffffffffffull, 0xfffe}, /* largest normals */
    {0x8000000000000000ull, 0x7fff}, {0x8000000000000000ull, 0xffff}, /* infinities */
    {0xc000000000000000ull, 0x7fff}, {0xc000000000012345ull, 0xffff}, /* QNaNs */
    {0x8000000000000001ull, 0x7fff}, {0xa000000000000000ull, 0xffff}, /* SNaNs */
    {0x4000000000000000ull, 0x4000}, {0x0000000000000000ull, 0x7fff}, /* unnormal, pseudo-infinity */
    {0x8000000000000000ull, 16383}, {0x8000000000000000ull, 0x8000 | 16383},
    {0xc000000000000000ull, 16383}, {0xc000000000000000ull, 16384},
    {0x8000008000000000ull, 16383}, {0x8000000000000400ull, 16383},   /* ties at 24 and 53 bits */
    {0xffffff8000000000ull, 16383}, {0xfffffffffffffc00ull, 16383},   /* ties below a carry */
    {0xffffffffffffffffull, 16383}, {0x8000000000000001ull, 16382},
    {0x8000000000000000ull, 16383 + 128}, {0xffffff7fffffffffull, 16383 + 127}, /* float32 overflow */
    {0x8000000000000000ull, 16383 - 126}, {0x8000000000000000ull, 16383 - 150}, /* float32 underflow */
    {0xc000000000000000ull, 16383 - 149}, {0xfffffffffffff800ull, 16383 + 1023},
    {0x8000000000000000ull, 16383 - 1074}, {0xa000000000000000ull, 16383 - 1060},
    {0x8000000000000000ull, 0x7ffd}, {0xc000000000000000ull, 2},      /* near the float80 range */
    {0xc90fdaa22168c235ull, 16384}, {0xb17217f7d1cf79acull, 16382},   /* pi, ln 2 */
    {0x8000000000000000ull, 16383 + 63}, {0xde0b6b3a76400000ull, 16383 + 59}, /* 2^63, 1e18 */
    {0xa000000000000000ull, 16383 + 62}, {0xd000000000000000ull, 0x8000 | (16383 + 14)},
};
/* clang-format on */

#endif
