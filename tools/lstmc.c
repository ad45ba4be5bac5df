/* lstmc — the command-line driver, a thin layer over the public API (include/lstmc.h).
 *
 *   lstmc check SPEC [--weights W]
 *   lstmc ir SPEC [--weights W] [-o OUT.safetensors|OUT.ir] [--inline N]
 *   lstmc opt FILE.ir [--passes P] [--inline N] [-o OUT.ir|OUT.safetensors]
 *   lstmc init SPEC [--vocab-from TEXT] [--seed S] -o W.safetensors
 *   lstmc eval SPEC --weights W --data TEXT [--target ref|cpu|cuda] [--json]
 *   lstmc generate SPEC --weights W [--prime STR] [--length N] [--temperature T] [--top-k K] [--seed S]
 *   lstmc passes | lstmc --list-passes
 *   lstmc report SPEC --weights W [--passes P] [--array 32x32] [--json]
 *   lstmc compile SPEC --weights W [--passes P] [--target cpu|cuda] [--emit obj|asm|llvm|cuda|ptx|cubin] -o OUT [--header H.h]
 *   lstmc bench SPEC --weights W [--passes P] [--target ref|cpu|cuda] [--mode gen|score] [--batch N] [--json|-o md|csv]
 *   lstmc train SPEC [--data F] [--valid F] -o W.safetensors [--epochs N] [--resume CKPT] [--log run.csv] …
 *   lstmc plot run.csv -o curve.png|curve.svg
 *   lstmc sweep SPEC --weights W --data TEXT [--alphas …] [--gammas …] [--arrays …] [--csv F] [--plot F.svg]
 * (ir, eval, generate and report take the pass flags: --passes P --stats --time-passes --print-after=NAME
 *  --print-after-all --verify-each --verbose)
 *
 * Exit status: 0 success, 1 an error in the inputs (spec, weights, data) or while running, 2 bad usage. */
#include <string.h>

#include "tools/cli.h"

/* Each command's options and entry point live in tools/cmd_*.c. */
#define COMMAND(name) extern const OptSpec name##_opts[]; int cmd_##name(Args *a);
COMMAND(check)
COMMAND(ir)
COMMAND(opt)
COMMAND(init)
COMMAND(eval)
COMMAND(generate)
COMMAND(passes)
COMMAND(report)
COMMAND(compile)
COMMAND(bench)
COMMAND(train)
COMMAND(plot)
COMMAND(sweep)
#undef COMMAND

static const Command commands[] = {
    {"check", "lstmc check SPEC [--weights W]", "parse and check a spec; print a summary", 1, check_opts, cmd_check},
    {"ir", "lstmc ir SPEC [--weights W [--passes P]] [--inline N] [-o OUT.safetensors|OUT.ir]",
     "print the IR (after the pipeline); -o writes the transformed weights, or the IR text with them", 1, ir_opts,
     cmd_ir},
    {"opt", "lstmc opt FILE.ir [--passes P] [--print-after NAME] [--print-after-all] [--stats] [--inline N] [-o OUT]",
     "run passes on IR text and print the result (lstmc's mlir-opt)", 1, opt_opts, cmd_opt},
    {"init", "lstmc init SPEC [--vocab-from TEXT] [--seed S] -o W.safetensors", "random PyTorch-style weights", 1,
     init_opts, cmd_init},
    {"eval", "lstmc eval SPEC --weights W --data TEXT [--passes P] [--stats] [--target ref|cpu|cuda|systolic] [--json]",
     "bits per character over a text (one stream, batch 1)", 1, eval_opts, cmd_eval},
    {"generate",
     "lstmc generate SPEC --weights W [--prime STR] [--length N] [--temperature T] [--top-k K] [--seed S] [--target ref|cpu|cuda]",
     "sample text", 1, generate_opts, cmd_generate},
    {"passes", "lstmc passes", "list the passes and their options (also: lstmc --list-passes)", 0, passes_opts,
     cmd_passes},
    {"report", "lstmc report SPEC --weights W [--passes P] [--array 32x32] [--json]",
     "systolic-array tiles, utilization and cycles, before and after column combining", 1, report_opts, cmd_report},
    {"compile",
     "lstmc compile SPEC --weights W [--passes P] [--target cpu|cuda] [--emit obj|asm|llvm|cuda|ptx|cubin] -o OUT "
     "[--header H.h] (see lstmc help compile)",
     "ahead-of-time code: a standalone object with its C header (cpu), or CUDA source/PTX/cubin (cuda)", 1,
     compile_opts, cmd_compile},
    {"bench",
     "lstmc bench SPEC --weights W [--target ref|cpu|cuda] [--mode gen|score] [--batch N] [--threads T] "
     "[--json|-o md|csv]",
     "time per token: median, p90, p99, tokens/s, GB/s", 1, bench_opts, cmd_bench},
    {"train",
     "lstmc train SPEC [--data F] [--valid F] -o W.safetensors [--target cpu] [--epochs N] [--max-seconds S] "
     "[--resume CKPT] [--log run.csv] [--threads T] [--init W0]",
     "train with AWD-LSTM regularization (checkpoints every epoch and on Ctrl-C)", 1, train_opts, cmd_train},
    {"plot", "lstmc plot run.csv -o curve.png|curve.svg", "draw the curves of a training log", 1, plot_opts, cmd_plot},
    {"sweep",
     "lstmc sweep SPEC --weights W --data TEXT [--alphas 1,2,4,8,16] [--gammas 0.5] [--arrays 16x16,32x32,64x64] "
     "[--sparsity 0.8] [--csv F] [--plot F.svg] [--json]",
     "systolic arrays: BPC against cycles per token over column-combine alpha, gamma and array size", 1, sweep_opts,
     cmd_sweep},
};
#define NCOMMANDS ((int)(sizeof commands / sizeof *commands))

static void print_help(FILE *f) {
  fprintf(f, "lstmc %s — a compiler for LSTM language models\n\nusage: lstmc COMMAND [ARGS]\n\ncommands:\n",
          LSTMC_VERSION);
  for (int i = 0; i < NCOMMANDS; i++) fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
  fprintf(f, "\n'lstmc help COMMAND' shows a command's options.\n");
}

static void print_command_help(const Command *c) {
  printf("usage: %s\n%s\n\noptions:\n", c->usage, c->summary);
  for (int i = 0; c->opts[i].name; i++) {
    char flag[48];
    snprintf(flag, sizeof flag, "%s%s%s", strlen(c->opts[i].name) == 1 ? "-" : "--", c->opts[i].name,
             c->opts[i].takes_value ? " X" : "");
    printf("  %-18s %s\n", flag, c->opts[i].help);
  }
}

/* Everything the library has to say besides the error of a failing call (diagnostics, warnings, notes,
 * the reports options ask for) goes to stderr as it comes. */
static void print_message(void *ctx, lstmc_message_kind kind, const char *text) {
  (void)ctx;
  (void)kind;
  fputs(text, stderr);
}

int main(int argc, char **argv) {
  lstmc_set_message_handler(print_message, NULL);
  if (argc < 2) {
    print_help(stderr);
    return 2;
  }
  if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    print_help(stdout);
    return 0;
  }
  if (!strcmp(argv[1], "--list-passes")) {
    Args none = {0};
    return cmd_passes(&none);
  }
  if (!strcmp(argv[1], "--version")) {
    printf("lstmc %s\n", LSTMC_VERSION);
    return 0;
  }
  if (!strcmp(argv[1], "help")) {
    if (argc < 3) {
      print_help(stdout);
      return 0;
    }
    for (int i = 0; i < NCOMMANDS; i++)
      if (!strcmp(commands[i].name, argv[2])) {
        print_command_help(&commands[i]);
        return 0;
      }
    return usage_error("help: unknown command '%s'", argv[2]);
  }
  for (int i = 0; i < NCOMMANDS; i++) {
    if (strcmp(commands[i].name, argv[1])) continue;
    Args a;
    int rc = parse_args(&commands[i], argc - 2, argv + 2, &a);
    if (rc) return rc;
    return commands[i].run(&a);
  }
  return usage_error("unknown command '%s' (see 'lstmc --help')", argv[1]);
}
