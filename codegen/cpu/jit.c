/* LLVM plumbing for the CPU backend: the target CPU (name and features, as LLVM detects them on the host),
 * target machines, the `default<O3>` pipeline, and LLJIT (ORC v2).
 *
 * Every LLVMErrorRef is consumed (turned into an lstmc error with cpu_llvm_error, or disposed), and the
 * ownership of each LLVM object is said where it passes hands, as LLVM's OrcV2CBindingsBasicUsage.c does. */
#include <llvm-c/Error.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/Transforms/PassBuilder.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "codegen/cpu/emit.h"
#include "support/alloc.h"
#include "support/err.h"

static pthread_once_t llvm_once = PTHREAD_ONCE_INIT;

static void llvm_init(void) {
  LLVMInitializeNativeTarget();
  LLVMInitializeNativeAsmPrinter();
  LLVMInitializeNativeAsmParser(); /* the objects' CPU check is inline assembly (cpuid, xgetbv) */
}

int cpu_llvm_error(LLVMErrorRef e, const char *what) {
  char *msg = LLVMGetErrorMessage(e); /* consumes e; msg is ours */
  int st = lx_fail(LSTMC_ERR_BACKEND, "cpu backend: %s: %s", what, msg);
  LLVMDisposeErrorMessage(msg);
  return st;
}

/* 1 when the comma-separated feature list enables `name` ("+avx512f"). */
static int feature_on(const char *list, const char *name) {
  size_t n = strlen(name);
  for (const char *p = list; (p = strstr(p, name)); p += n)
    if ((p == list || p[-1] == ',') && (p[n] == ',' || p[n] == 0)) return 1;
  return 0;
}

static int target_set(CpuTarget *t, const char *cpu, const char *features) {
  memset(t, 0, sizeof *t);
  if (strlen(cpu) >= sizeof t->cpu || strlen(features) >= sizeof t->features)
    return lx_fail(LSTMC_ERR_USAGE, "cpu backend: CPU name or feature list too long");
  strcpy(t->cpu, cpu);
  strcpy(t->features, features);
  t->avx512 = feature_on(features, "+avx512f");
  t->avx2 = feature_on(features, "+avx2");
  t->vl = t->avx512 ? 16 : 8;
  int bw = t->avx512 && feature_on(features, "+avx512bw"), vnni512 = bw && feature_on(features, "+avx512vnni");
  if (t->vl == 16) t->dot = vnni512 ? CPU_DOT_VNNI : bw ? CPU_DOT_MADD : CPU_DOT_PORTABLE;
  else if (feature_on(features, "+avxvnni") || (vnni512 && feature_on(features, "+avx512vl"))) t->dot = CPU_DOT_VNNI;
  else t->dot = t->avx2 ? CPU_DOT_MADD : CPU_DOT_PORTABLE;
  t->vbmi = bw && feature_on(features, "+avx512vbmi");
  t->bf16dot = bw && feature_on(features, "+avx512bf16");
  return 0;
}

const char *cpu_dot_name(int dot) { return dot == CPU_DOT_VNNI ? "vnni" : dot == CPU_DOT_MADD ? "madd" : "portable"; }

int cpu_target_host(CpuTarget *t) {
  pthread_once(&llvm_once, llvm_init);
  char *cpu = LLVMGetHostCPUName(), *features = LLVMGetHostCPUFeatures(); /* ours: LLVMDisposeMessage */
  int st = target_set(t, cpu, features);
  LLVMDisposeMessage(cpu);
  LLVMDisposeMessage(features);
  return st;
}

int cpu_target_named(const char *cpu, const char *features, CpuTarget *t) {
  if (!strcmp(cpu, "native")) {
    if (features && features[0]) return lx_fail(LSTMC_ERR_USAGE, "--features cannot be given with the native CPU (its features are detected)");
    return cpu_target_host(t);
  }
  return target_set(t, cpu, features ? features : "");
}

int cpu_target_machine(const CpuTarget *t, int object, LLVMTargetMachineRef *out) {
  pthread_once(&llvm_once, llvm_init);
  *out = NULL;
  char *triple = LLVMGetDefaultTargetTriple(), *err = NULL; /* ours: LLVMDisposeMessage */
  LLVMTargetRef target;
  int st = 0;
  if (LLVMGetTargetFromTriple(triple, &target, &err)) {
    st = lx_fail(LSTMC_ERR_BACKEND, "cpu backend: no LLVM target for %s: %s", triple, err ? err : "");
    LLVMDisposeMessage(err);
  } else {
    /* objects are position-independent so that they link into PIE executables */
    *out = LLVMCreateTargetMachine(target, triple, t->cpu, t->features, LLVMCodeGenLevelAggressive,
                                   object ? LLVMRelocPIC : LLVMRelocDefault,
                                   object ? LLVMCodeModelDefault : LLVMCodeModelJITDefault);
    if (!*out) st = lx_fail(LSTMC_ERR_BACKEND, "cpu backend: LLVM cannot make a target machine for CPU '%s'", t->cpu);
  }
  LLVMDisposeMessage(triple);
  return st;
}

int cpu_module_optimize(LLVMModuleRef m, LLVMTargetMachineRef tm) {
  char *triple = LLVMGetTargetMachineTriple(tm); /* ours */
  LLVMSetTarget(m, triple);
  LLVMDisposeMessage(triple);
  LLVMTargetDataRef dl = LLVMCreateTargetDataLayout(tm); /* ours; the module copies it */
  LLVMSetModuleDataLayout(m, dl);
  LLVMDisposeTargetData(dl);
  LLVMPassBuilderOptionsRef o = LLVMCreatePassBuilderOptions(); /* ours */
  LLVMPassBuilderOptionsSetLoopVectorization(o, 1);
  LLVMPassBuilderOptionsSetSLPVectorization(o, 1);
  /* no loop unrolling: the slot loops are unrolled by hand (two accumulator sets), and LLVM's full unrolling
   * of small models' loops doubled the compile time without making the code faster */
  LLVMPassBuilderOptionsSetLoopUnrolling(o, 0);
  LLVMErrorRef e = LLVMRunPasses(m, "default<O3>", tm, o);
  LLVMDisposePassBuilderOptions(o);
  return e ? cpu_llvm_error(e, "optimizing the generated IR") : 0;
}

/* ---- LLJIT --------------------------------------------------------------------------------------- */

struct CpuJit {
  LLVMOrcLLJITRef jit;
};

void cpu_jit_free(CpuJit *j) {
  if (!j) return;
  if (j->jit) {
    LLVMErrorRef e = LLVMOrcDisposeLLJIT(j->jit); /* frees the compiled code */
    if (e) {
      /* nothing to give back to a caller that is tearing down: say it and go on */
      char *msg = LLVMGetErrorMessage(e);
      lx_message(LSTMC_MSG_WARNING, "lstmc: warning: cpu backend: disposing of the JIT: %s\n", msg);
      LLVMDisposeErrorMessage(msg);
    }
  }
  lx_free(j);
}

int cpu_jit_compile(const CpuModuleSpec *spec, CpuJit **out) {
  *out = NULL;
  CpuJit *j = lx_calloc(1, sizeof *j);
  if (!j) return lx_nomem("creating the JIT");
  LLVMTargetMachineRef opt_tm = NULL, jit_tm = NULL;
  LLVMModuleRef mod = NULL;
  /* the module lives in a thread-safe context, as ORC requires; we hold one reference until the
   * ThreadSafeModule takes its own */
  LLVMOrcThreadSafeContextRef tsc = LLVMOrcCreateNewThreadSafeContext();
  int st = cpu_module_build(LLVMOrcThreadSafeContextGetContext(tsc), spec, &mod);
  if (!st) st = cpu_module_verify(mod);
  if (!st) st = cpu_target_machine(spec->target, 0, &opt_tm);
  if (!st) st = cpu_module_optimize(mod, opt_tm);
  if (!st) st = cpu_target_machine(spec->target, 0, &jit_tm);
  if (st) goto fail;

  /* The builder takes the target-machine builder, which takes the target machine; LLVMOrcCreateLLJIT
   * takes the builder whether or not it succeeds. */
  LLVMOrcJITTargetMachineBuilderRef jtmb = LLVMOrcJITTargetMachineBuilderCreateFromTargetMachine(jit_tm);
  jit_tm = NULL;
  LLVMOrcLLJITBuilderRef builder = LLVMOrcCreateLLJITBuilder();
  LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(builder, jtmb);
  LLVMErrorRef e = LLVMOrcCreateLLJIT(&j->jit, builder);
  if (e) {
    j->jit = NULL;
    st = cpu_llvm_error(e, "creating the JIT");
    goto fail;
  }
  /* libc symbols (memset, memcpy) that LLVM may call from the generated code */
  LLVMOrcDefinitionGeneratorRef gen;
  e = LLVMOrcCreateDynamicLibrarySearchGeneratorForProcess(&gen, LLVMOrcLLJITGetGlobalPrefix(j->jit), NULL, NULL);
  if (e) {
    st = cpu_llvm_error(e, "looking up the process's symbols");
    goto fail;
  }
  LLVMOrcJITDylibRef jd = LLVMOrcLLJITGetMainJITDylib(j->jit);
  LLVMOrcJITDylibAddGenerator(jd, gen); /* the dylib owns the generator */
  LLVMOrcThreadSafeModuleRef tsm = LLVMOrcCreateNewThreadSafeModule(mod, tsc); /* takes the module */
  mod = NULL;
  e = LLVMOrcLLJITAddLLVMIRModule(j->jit, jd, tsm); /* takes tsm on success only */
  if (e) {
    LLVMOrcDisposeThreadSafeModule(tsm);
    st = cpu_llvm_error(e, "adding the module to the JIT");
    goto fail;
  }
  LLVMDisposeTargetMachine(opt_tm);
  LLVMOrcDisposeThreadSafeContext(tsc); /* the module keeps the context alive */
  *out = j;
  return 0;
fail:
  if (mod) LLVMDisposeModule(mod);
  if (opt_tm) LLVMDisposeTargetMachine(opt_tm);
  if (jit_tm) LLVMDisposeTargetMachine(jit_tm);
  LLVMOrcDisposeThreadSafeContext(tsc);
  cpu_jit_free(j);
  return st;
}

int cpu_jit_lookup(CpuJit *j, const char *name, void **fn) {
  LLVMOrcExecutorAddress addr = 0;
  LLVMErrorRef e = LLVMOrcLLJITLookup(j->jit, &addr, name); /* compiles the module on first use */
  if (e) return cpu_llvm_error(e, name);
  *fn = (void *)(uintptr_t)addr;
  return 0;
}
