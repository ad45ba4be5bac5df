/* The syntax tree of a .lstm file. The grammar is deliberately small and uniform: a file is a list of
 * statements `word values… ;` or `word values… { statements }`; the words `passes` and `prune_at` take
 * a pass pipeline in their braces instead. What the words mean (model, lstm, train, …) is decided in
 * spec.c, which gives better messages for a misspelled word than a grammar of keywords could.
 *
 * Memory: every node lives in the Arena of the parse; nothing here is freed on its own. */
#ifndef LSTMC_FRONTEND_AST_H
#define LSTMC_FRONTEND_AST_H
#include <stddef.h>

#include "support/arena.h"
#include "support/srcloc.h"

typedef enum AstValueKind { AST_INT, AST_FLOAT, AST_STRING, AST_WORD } AstValueKind;

typedef struct AstValue {
  int kind;      /* AstValueKind */
  long long i;   /* AST_INT; also set (truncated) for AST_FLOAT */
  double f;      /* AST_INT and AST_FLOAT */
  const char *s; /* text: the word, the string's contents (unescaped), or the number as written */
  size_t slen;
  int overflow;  /* AST_INT that did not fit in long long */
  SrcLoc loc;
  struct AstValue *next;
} AstValue;

/* A pass in a pipeline: `name` or `name{key=value, …}`. */
typedef struct AstPassOpt {
  const char *key;
  SrcLoc loc;
  AstValue *value;
  struct AstPassOpt *next;
} AstPassOpt;

typedef struct AstPass {
  const char *name;
  SrcLoc loc;
  AstPassOpt *opts;
  struct AstPass *next;
} AstPass;

typedef struct AstPipeline {
  AstPass *passes; /* NULL for the empty pipeline */
  int npasses;
  SrcLoc loc;
} AstPipeline;

typedef struct AstStmt {
  const char *word;
  SrcLoc loc;         /* of the word */
  AstValue *values;   /* NULL when none */
  int nvalues;
  int has_block;      /* `{ … }` followed (statements or pipeline) */
  struct AstStmt *body;  /* the block's statements */
  AstPipeline *pipeline; /* for `passes { … }` and `prune_at … { … }` */
  SrcLoc block_loc;   /* of the opening brace */
  struct AstStmt *next;
} AstStmt;

/* Parsing entry points (parser.y). Diagnostics go to `diag`; the tree is allocated in `arena`.
 * Both return 0, or LSTMC_ERR_PARSE after reporting at least one error. */
struct Diag;
int parse_spec_text(const char *file, const char *text, size_t len, Arena *arena, struct Diag *diag, AstStmt **out);
/* Parses pipeline text (`prune{sparsity=0.8},conflict-prune`). `where` gives the place of its first
 * character, so that errors inside a spec's `passes "…"` string point into the spec file. */
int parse_pipeline_text(const char *text, size_t len, SrcLoc where, Arena *arena, struct Diag *diag,
                        AstPipeline **out);

#endif
