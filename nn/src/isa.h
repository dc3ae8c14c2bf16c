/* isa.h — internal: the instruction sets this translation unit is built
 * for, in one place (nn/meson.build builds ops_simd.c and gemm_s8.c once per
 * set with its -m flags; the tables are chosen at run time in ops.c). */
#ifndef RV_ISA_H
#define RV_ISA_H

#if defined(__x86_64__) || defined(__i386__)
#define RV_HAVE_X86_KERNELS 1
#else
#define RV_HAVE_X86_KERNELS 0
#endif

/* vdpbf16ps, and the 16-bit permutes the bf16 packing uses */
#if defined(__AVX512BF16__) && defined(__AVX512BW__)
#define HAVE_BF16 1
#else
#define HAVE_BF16 0
#endif

#endif
