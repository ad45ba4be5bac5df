/* The syntax tree of the IR's text form (docs/ir.md), made by frontend/ir_parser.y and turned into a Graph
 * by frontend/ir_read.c. The text is line-oriented: the lexer hands the parser one NL token per line end
 * (blank lines and `#` comments fold into it), except inside the brackets of a tensor's `{ … }` body, where
 * an array may span many lines.
 *
 * Memory: nodes, names and strings live in the parse's Arena. The arrays of numbers (IrArray), which can be
 * large, are heap blocks on the IrParseCtx's list of live arrays: the parser's %destructor frees those it
 * discards while recovering from an error, and ir_parse_free_arrays frees the rest once the tree is used. */
#ifndef LSTMC_FRONTEND_IR_AST_H
#define LSTMC_FRONTEND_IR_AST_H
#include <stddef.h>
#include <stdint.h>

#include "frontend/diag.h"
#include "frontend/scan_alloc.h"
#include "support/arena.h"
#include "support/srcloc.h"

/* A word, string or number as the lexer saw it. */
typedef struct IrTok {
  const char *s;  /* words: the word; strings: the literal with its quotes (JSON, decoded by ir_read.c);
                     numbers: their text (not NUL-terminated: use len) */
  size_t len;
  double d;       /* numbers */
  float f;        /* numbers: the nearest float to the text (not d rounded again) */
  long long i;    /* integers */
  int overflow;   /* an integer outside long long, or a number outside double */
} IrTok;

enum { IRN_INT, IRN_FLOAT, IRN_EMPTY };

/* One element of an array: a number, or `_` (an empty packed selection). */
typedef struct IrNum {
  double d;
  float f;
  long long i;
  unsigned char kind;     /* IRN_* */
  unsigned char overflow;
  int line, col, end_col; /* its place, for messages about one element */
} IrNum;

typedef struct IrRow {
  size_t start, count; /* elements v[start .. start + count) */
  SrcLoc loc;
} IrRow;

/* `[]`, `[n, n, …]` (depth 1) or `[[…], […], …]` (depth 2, rows of possibly different lengths). */
typedef struct IrArray {
  int depth;      /* 0: `[]`; 1: numbers; 2: rows */
  IrNum *v;
  size_t n, cap;
  IrRow *rows;    /* depth 2 */
  size_t nrows, rcap;
  SrcLoc loc;
  struct IrArray *prev, *next; /* the IrParseCtx's list of live arrays */
} IrArray;

typedef enum IrValueKind { IRV_INT, IRV_FLOAT, IRV_WORD, IRV_STRING, IRV_UNKNOWN, IRV_NAMES } IrValueKind;

/* The value of `key=value`: a number, a word, a string, `?`, or a list of names `a,b,c`. */
typedef struct IrValue {
  int kind;           /* IrValueKind; IRV_WORD is a one-name list too */
  IrTok tok;          /* numbers, words, strings (words: the first name) */
  const char **names; /* IRV_WORD, IRV_NAMES */
  SrcLoc *name_locs;
  int nnames;
  SrcLoc loc;
} IrValue;

/* `key=value`, or a bare word (`tied`) with has_value 0. */
typedef struct IrAttr {
  const char *key;
  SrcLoc loc; /* of the key */
  int has_value;
  IrValue v;
  struct IrAttr *next;
} IrAttr;

typedef struct IrDim {
  long long v;   /* the size, or -1 for `V` */
  const char *word; /* `V` (or a wrong word) when not a number */
  int overflow;
  SrcLoc loc;
} IrDim;

typedef struct IrShape {
  IrDim *dims;
  int n;
  SrcLoc loc;
} IrShape;

/* `%N = op input : [dim] attrs` */
typedef struct IrNodeLine {
  long long id;
  SrcLoc loc;
  const char *op;
  SrcLoc op_loc;
  int input_is_word; /* `tokens` (or another word) rather than %N */
  const char *input_word;
  long long input;
  SrcLoc input_loc;
  IrShape shape;
  IrAttr *attrs;
  struct IrNodeLine *next;
} IrNodeLine;

/* `name = [...]` inside a tensor's body */
typedef struct IrField {
  const char *key;
  SrcLoc loc;
  IrArray *a;
  struct IrField *next;
} IrField;

/* `name [dims] (not loaded)` | `name [dims] format attrs [external | { fields }]` */
typedef struct IrTensorLine {
  const char *name;
  SrcLoc loc;
  IrShape shape;
  int not_loaded;
  const char *format;
  SrcLoc format_loc;
  IrAttr *attrs;
  int external;
  int has_body;
  SrcLoc tail_loc; /* of `external` or the body's `{` */
  IrField *fields;
  struct IrTensorLine *next;
} IrTensorLine;

typedef struct IrString {
  IrTok tok; /* the literal, quotes included */
  SrcLoc loc;
  struct IrString *next;
} IrString;

typedef struct IrDoc {
  int has_header;
  IrTok name;
  int name_is_string;
  SrcLoc name_loc;
  IrAttr *attrs;            /* vocab=, V= */
  SrcLoc loc;               /* of `model` */
  IrString *pipeline;       /* the `pipeline "…"` lines (one allowed) */
  IrString *vocab;          /* the tokens of the first `vocab [...]` line */
  int nvocab_lines;
  SrcLoc vocab_loc;
  IrNodeLine *nodes;
  int has_weights;
  SrcLoc weights_loc;
  IrString *external_file;  /* `weights "file"`, or NULL */
  IrTensorLine *tensors;
} IrDoc;

/* State shared by the reentrant lexer and parser of one parse (Flex's yyextra, Bison's %param). */
typedef struct IrParseCtx {
  Arena *arena;
  Diag *diag;
  const char *file;
  const char *text;   /* the whole input (numbers point into it) */
  size_t offset;      /* of the next character */
  int line, col;      /* of the next character */
  int bracket_depth;  /* '[' open inside a body: line ends there are not NL tokens */
  int brace_depth;
  SrcLoc brace_loc;   /* the body's '{', for "not closed" */
  int pending_nl;     /* the last token was not NL: a line end (or the end of input) gives one */
  int at_eof;
  ScanAllocs allocs;  /* Flex's own blocks (frontend/scan_alloc.h) */
  IrArray *arrays;    /* live arrays */
  IrDoc doc;          /* the result */
} IrParseCtx;

/* Parses text into ctx->doc (ctx->arena, diag and file set by the caller; everything else zero). Reports
 * every syntax error through diag and returns 0, LSTMC_ERR_PARSE or LSTMC_ERR_NOMEM. The arrays in the tree
 * stay valid until ir_parse_free_arrays(ctx). */
int ir_parse(IrParseCtx *ctx, const char *text, size_t len);
void ir_parse_free_arrays(IrParseCtx *ctx);

/* Array helpers for the parser's actions (ir_parser.y): NULL on allocation failure. */
IrArray *ir_array_new(IrParseCtx *ctx);
int ir_array_push(IrArray *a, const IrNum *x);
/* Appends row's elements to a as one row (a becomes depth 2) and frees row. */
int ir_array_add_row(IrParseCtx *ctx, IrArray *a, IrArray *row);
void ir_array_free(IrParseCtx *ctx, IrArray *a);

#endif
