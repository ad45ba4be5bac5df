/* The x86 features an object needs, as cpuid reports them: the table behind the CPU check of standalone
 * objects (emit_api.c emits the same comparison in IR; the C version here is what tests and the host use).
 *
 * A feature counts as present when its cpuid bit is set and, for those that use the wider registers, the
 * operating system saves their state (XCR0: YMM for AVX, the opmask and ZMM states for AVX-512, the tile
 * state for AMX). Features of the LLVM string that are not in the table are not checked. */
#include <string.h>

#include "codegen/cpu/cpu.h"

#define YMM 0x6u          /* XCR0: SSE and AVX state */
#define ZMM 0xe6u         /* XCR0: plus opmask, ZMM_Hi256, Hi16_ZMM */
#define TILE 0x60000u     /* XCR0: XTILECFG and XTILEDATA */

/* Words: CPU_CPUID_1_ECX .. in cpu.h. */
static const CpuFeature table[] = {
    {"sse", CPU_CPUID_1_EDX, 25, 0},        {"sse2", CPU_CPUID_1_EDX, 26, 0},
    {"cx8", CPU_CPUID_1_EDX, 8, 0},         {"cmov", CPU_CPUID_1_EDX, 15, 0},
    {"fxsr", CPU_CPUID_1_EDX, 24, 0},       {"mmx", CPU_CPUID_1_EDX, 23, 0},
    {"sse3", CPU_CPUID_1_ECX, 0, 0},        {"pclmul", CPU_CPUID_1_ECX, 1, 0},
    {"ssse3", CPU_CPUID_1_ECX, 9, 0},       {"fma", CPU_CPUID_1_ECX, 12, YMM},
    {"cx16", CPU_CPUID_1_ECX, 13, 0},       {"sse4.1", CPU_CPUID_1_ECX, 19, 0},
    {"sse4.2", CPU_CPUID_1_ECX, 20, 0},     {"movbe", CPU_CPUID_1_ECX, 22, 0},
    {"popcnt", CPU_CPUID_1_ECX, 23, 0},     {"aes", CPU_CPUID_1_ECX, 25, 0},
    {"xsave", CPU_CPUID_1_ECX, 26, 0},      {"avx", CPU_CPUID_1_ECX, 28, YMM},
    {"f16c", CPU_CPUID_1_ECX, 29, YMM},     {"rdrnd", CPU_CPUID_1_ECX, 30, 0},
    {"fsgsbase", CPU_CPUID_7_EBX, 0, 0},    {"bmi", CPU_CPUID_7_EBX, 3, 0},
    {"avx2", CPU_CPUID_7_EBX, 5, YMM},      {"bmi2", CPU_CPUID_7_EBX, 8, 0},
    {"avx512f", CPU_CPUID_7_EBX, 16, ZMM},  {"avx512dq", CPU_CPUID_7_EBX, 17, ZMM},
    {"rdseed", CPU_CPUID_7_EBX, 18, 0},     {"adx", CPU_CPUID_7_EBX, 19, 0},
    {"avx512ifma", CPU_CPUID_7_EBX, 21, ZMM}, {"clflushopt", CPU_CPUID_7_EBX, 23, 0},
    {"clwb", CPU_CPUID_7_EBX, 24, 0},       {"avx512pf", CPU_CPUID_7_EBX, 26, ZMM},
    {"avx512er", CPU_CPUID_7_EBX, 27, ZMM}, {"avx512cd", CPU_CPUID_7_EBX, 28, ZMM},
    {"sha", CPU_CPUID_7_EBX, 29, 0},        {"avx512bw", CPU_CPUID_7_EBX, 30, ZMM},
    {"avx512vl", CPU_CPUID_7_EBX, 31, ZMM}, {"avx512vbmi", CPU_CPUID_7_ECX, 1, ZMM},
    {"avx512vbmi2", CPU_CPUID_7_ECX, 6, ZMM}, {"gfni", CPU_CPUID_7_ECX, 8, 0},
    {"vaes", CPU_CPUID_7_ECX, 9, YMM},      {"vpclmulqdq", CPU_CPUID_7_ECX, 10, YMM},
    {"avx512vnni", CPU_CPUID_7_ECX, 11, ZMM}, {"avx512bitalg", CPU_CPUID_7_ECX, 12, ZMM},
    {"avx512vpopcntdq", CPU_CPUID_7_ECX, 14, ZMM}, {"avx512vp2intersect", CPU_CPUID_7_EDX, 8, ZMM},
    {"amx-bf16", CPU_CPUID_7_EDX, 22, TILE}, {"avx512fp16", CPU_CPUID_7_EDX, 23, ZMM},
    {"amx-tile", CPU_CPUID_7_EDX, 24, TILE}, {"amx-int8", CPU_CPUID_7_EDX, 25, TILE},
    {"avxvnni", CPU_CPUID_7_1_EAX, 4, YMM}, {"avx512bf16", CPU_CPUID_7_1_EAX, 5, ZMM},
    {"sahf", CPU_CPUID_81_ECX, 0, 0},       {"lzcnt", CPU_CPUID_81_ECX, 5, 0},
    {"sse4a", CPU_CPUID_81_ECX, 6, 0},      {"prfchw", CPU_CPUID_81_ECX, 8, 0},
    {"xop", CPU_CPUID_81_ECX, 11, YMM},     {"fma4", CPU_CPUID_81_ECX, 16, YMM},
    {"tbm", CPU_CPUID_81_ECX, 21, 0},
};

int cpu_feature_count(void) { return (int)(sizeof table / sizeof *table); }

const CpuFeature *cpu_feature(int i) { return i >= 0 && i < cpu_feature_count() ? &table[i] : NULL; }

int cpu_features_required(const char *features, int *idx, int max) {
  int n = 0;
  for (const char *p = features; p && *p;) {
    const char *e = strchr(p, ',');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    if (len > 1 && p[0] == '+')
      for (int i = 0; i < cpu_feature_count(); i++)
        if (strlen(table[i].name) == len - 1 && !memcmp(table[i].name, p + 1, len - 1) && n < max) idx[n++] = i;
    p = e ? e + 1 : p + len;
  }
  return n;
}

int cpu_feature_present(const CpuFeature *f, const uint32_t words[CPU_CPUID_WORDS], uint64_t xcr0) {
  return (words[f->word] >> f->bit & 1u) && (xcr0 & f->xcr0) == f->xcr0;
}

const char *cpu_features_first_missing(const char *features, const uint32_t words[CPU_CPUID_WORDS], uint64_t xcr0) {
  int idx[128];
  int n = cpu_features_required(features, idx, 128);
  for (int k = 0; k < n; k++)
    if (!cpu_feature_present(&table[idx[k]], words, xcr0)) return table[idx[k]].name;
  return NULL;
}
