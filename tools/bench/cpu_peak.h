/* cpu_peak.h — the CPU and its per-core arithmetic peaks, measured in the
 * calling process (tools/bench/peak and the kernel benchmarks that print their
 * rates as % of a peak).
 *
 * Each peak kernel runs ACC independent accumulator chains that the compiler
 * keeps in registers, enough to cover latency x issue width of the cores we run
 * on; each sits in a function with its own target attribute, so no -m flags are
 * needed, and runs only when CPUID (and XGETBV for the OS-saved register state)
 * says the instruction exists. Rates come from the thread's CPU time, which
 * leaves out the time other processes held the core. */
#ifndef CPU_PEAK_H
#define CPU_PEAK_H

typedef struct
{
  char vendor[13], name[49];
  unsigned family, model;
  int avx2_fma, avx512f, avx512bf16, avx512vnni, avxvnni;
} cpu_info;

typedef enum
{
  PEAK_FP32_FMA_256, PEAK_FP32_FMA_512, PEAK_BF16_DOT_512, PEAK_INT8_VNNI_512,
  PEAK_INT8_VNNI_256, PEAK_KINDS
} peak_kind;

void cpu_probe (cpu_info * c);
/* cpu vendor=AuthenticAMD family=26 model=2 name="AMD EPYC ..." */
void cpu_print (const cpu_info * c);

/* "fp32-fma-512"; the extension it needs, "AVX-512F"; whether c has it */
const char *peak_name (peak_kind k);
const char *peak_needs (peak_kind k);
int peak_present (const cpu_info * c, peak_kind k);
/* GOP/s (2 per multiply-add) of k on this thread: the median of reps
 * (after a warm-up), the best in *best; 0 when c lacks the instruction. */
double peak_measure (const cpu_info * c, peak_kind k, int reps, double *best);

double thread_cpu_s (void);
/* qsort order of doubles */
int cmp_double (const void *a, const void *b);

#endif
