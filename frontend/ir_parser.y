/* The grammar of the IR's text form (Bison, pure, with locations; docs/ir.md). Separate from the .lstm
 * grammar (frontend/parser.y): what it reads is what ir/print.c writes.
 *
 *   file     = header model_line* weights_line tensor_line*
 *   header   = 'model' name attr* NL
 *   model_line = 'pipeline' STRING NL | 'vocab' '[' [STRING (',' STRING)*] ']' NL
 *            | '%N' '=' ID input ':' shape attr* NL                  (a node; input: `tokens` or %N)
 *   weights_line = 'weights' [STRING] NL                             (the file of external tensors)
 *   tensor_line = name shape '(not loaded)' NL
 *            | name shape FORMAT attr* ['external' | body] NL
 *   body     = '{' [NL] [field (NL field)*] [NL] '}'
 *   field    = name '=' array                                        (values, levels, scale, mask, groups, select)
 *   array    = '[' ']' | '[' num (',' num)* ']' | '[' row (',' row)* ']'
 *   row      = '[' ']' | '[' num (',' num)* ']'
 *   num      = INT | FLOAT | '_'
 *   attr     = KEY '=' value | ID                     (key=value with no blank before '=', or a flag: `tied`)
 *   value    = INT | FLOAT | STRING | '?' | ID (',' ID)*
 *   shape    = '[' dim (',' dim)* ']'        dim = INT | ID (`V`)
 *   name     = ID | STRING | a keyword
 *
 * Error recovery: a bad line is skipped to its end (a bad field of a body to the field's end), so that one
 * run reports every independent error. Names, attributes and lines live in the parse's arena; arrays of
 * numbers are heap blocks (they can be large), freed by %destructor when error recovery discards them. */
%define api.pure full
%define api.prefix {irp_}
%define parse.error detailed
%locations
%lex-param {yyscan_t scanner}
%parse-param {yyscan_t scanner} {IrParseCtx *ctx}

%code requires {
#include "frontend/ir_ast.h"
typedef void *yyscan_t;
}

%code provides {
int irp_lex(IRP_STYPE *lval, IRP_LTYPE *lloc, yyscan_t scanner);
}

%code {
#include <setjmp.h>
#include <string.h>

#include "support/alloc.h"

/* The stack never grows past its first size (so Bison never calls malloc, which a longjmp out of the
 * lexer on allocation failure would leak): the grammar nests at most a few levels. */
#define YYINITDEPTH 200
#define YYMAXDEPTH 200

static SrcLoc to_loc(const IrParseCtx *c, IRP_LTYPE l) {
  SrcLoc s = {c->file, l.first_line, l.first_column, l.last_line, l.last_column};
  return s;
}

static void irp_error(IRP_LTYPE *loc, yyscan_t scanner, IrParseCtx *ctx, const char *msg) {
  (void)scanner;
  if (!strncmp(msg, "syntax error, unexpected end of file", 36) && ctx->brace_depth > 0) {
    diag_error(ctx->diag, to_loc(ctx, *loc), "unexpected end of input: a '{' is not closed");
    diag_note(ctx->diag, ctx->brace_loc, "the '{' opened here");
    return;
  }
  if (!strcmp(msg, "memory exhausted")) msg = "the text nests too deeply";
  diag_error(ctx->diag, to_loc(ctx, *loc), "%s", msg);
}

#define NEW(T) ((T *)arena_alloc(ctx->arena, sizeof(T)))
#define OOM_IF_NULL(p) do { if (!(p)) { ctx->arena->failed = 1; YYABORT; } } while (0)

static IrNum to_num(const IrTok *t, IRP_LTYPE l, int kind) {
  IrNum n;
  memset(&n, 0, sizeof n);
  n.d = t->d;
  n.f = t->f;
  n.i = t->i;
  n.kind = (unsigned char)kind;
  n.overflow = (unsigned char)t->overflow;
  n.line = l.first_line;
  n.col = l.first_column;
  n.end_col = l.last_column;
  return n;
}

static int shape_push(IrParseCtx *ctx, IrShape *s, IrDim d) {
  IrDim *nd = arena_alloc(ctx->arena, (size_t)(s->n + 1) * sizeof *nd);
  if (!nd) return -1;
  if (s->n) memcpy(nd, s->dims, (size_t)s->n * sizeof *nd);
  nd[s->n++] = d;
  s->dims = nd;
  return 0;
}

static IrString *new_string(IrParseCtx *ctx, IrTok t, IRP_LTYPE l) {
  IrString *s = arena_alloc(ctx->arena, sizeof *s);
  if (s) {
    s->tok = t;
    s->loc = to_loc(ctx, l);
  }
  return s;
}
}

%union {
  IrTok tok;
  IrArray *arr;
  IrNum num;
  IrAttr *attr;
  struct { IrAttr *head, *tail; } attrs;
  IrValue val;
  struct { IrString *head, *tail; int n; } strs;
  IrDim dim;
  IrShape shape;
  IrNodeLine *node;
  IrTensorLine *tensor;
  IrField *field;
  struct { IrField *head, *tail; } fields;
}

%token <tok> ID "name" KEY "key" STRING "string" INT "integer" FLOAT "number" VALUE_ID "%N"
%token <tok> KW_MODEL "'model'" KW_WEIGHTS "'weights'" KW_PIPELINE "'pipeline'" KW_VOCAB "'vocab'"
%token <tok> KW_EXTERNAL "'external'"
%token NL "end of line" NOT_LOADED "(not loaded)"

%type <tok> name field_key
%type <attrs> attrs
%type <attr> attr
%type <val> value
%type <strs> names strings string_list
%type <tok> input
%type <dim> dim
%type <shape> shape dims
%type <node> node
%type <tensor> tensor_head
%type <field> field
%type <fields> fields body
%type <arr> array nums rows row
%type <num> num

%destructor { ir_array_free(ctx, $$); } <arr>

%%

file
  : header model_lines weights_line tensor_lines
  ;

header
  : KW_MODEL name attrs NL    { ctx->doc.has_header = 1; ctx->doc.loc = to_loc(ctx, @1); ctx->doc.name = $2;
                                ctx->doc.name_is_string = $2.s && $2.s[0] == '"'; ctx->doc.name_loc = to_loc(ctx, @2);
                                ctx->doc.attrs = $3.head; }
  | error NL                  { yyerrok; }
  ;

model_lines
  : %empty
  | model_lines model_line
  ;

model_line
  : KW_PIPELINE STRING NL     { IrString *s = new_string(ctx, $2, @2); OOM_IF_NULL(s);
                                s->next = ctx->doc.pipeline; ctx->doc.pipeline = s; }
  | KW_VOCAB '[' strings ']' NL
                              { if (ctx->doc.nvocab_lines++ == 0) { ctx->doc.vocab = $3.head; ctx->doc.vocab_loc = to_loc(ctx, @1); }
                                else diag_error(ctx->diag, to_loc(ctx, @1), "a second vocab line"); }
  | node NL                   { IrNodeLine **p = &ctx->doc.nodes; while (*p) p = &(*p)->next; *p = $1; }
  | error NL                  { yyerrok; }
  ;

strings
  : %empty                    { $$.head = $$.tail = NULL; $$.n = 0; }
  | string_list               { $$ = $1; }
  ;

string_list
  : STRING                    { IrString *s = new_string(ctx, $1, @1); OOM_IF_NULL(s); $$.head = $$.tail = s; $$.n = 1; }
  | string_list ',' STRING    { IrString *s = new_string(ctx, $3, @3); OOM_IF_NULL(s); $$ = $1;
                                $$.tail->next = s; $$.tail = s; $$.n++; }
  ;

node
  : VALUE_ID '=' ID input ':' shape attrs
                              { $$ = NEW(IrNodeLine); OOM_IF_NULL($$); $$->id = $1.overflow ? -1 : $1.i; $$->loc = to_loc(ctx, @1);
                                $$->op = $3.s; $$->op_loc = to_loc(ctx, @3);
                                $$->input_is_word = $4.s != NULL;
                                $$->input_word = $4.s;
                                $$->input = $4.overflow ? -1 : $4.i; $$->input_loc = to_loc(ctx, @4);
                                $$->shape = $6; $$->attrs = $7.head; }
  ;

input
  : ID                        { $$ = $1; }
  | VALUE_ID                  { $$ = $1; $$.s = NULL; /* a number: no word */ }
  ;

shape
  : '[' dims ']'              { $$ = $2; $$.loc = to_loc(ctx, @$); }
  ;

dims
  : dim                       { memset(&$$, 0, sizeof $$); if (shape_push(ctx, &$$, $1)) OOM_IF_NULL(NULL); }
  | dims ',' dim              { $$ = $1; if (shape_push(ctx, &$$, $3)) OOM_IF_NULL(NULL); }
  ;

dim
  : INT                       { memset(&$$, 0, sizeof $$); $$.v = $1.i; $$.overflow = $1.overflow; $$.loc = to_loc(ctx, @1); }
  | ID                        { memset(&$$, 0, sizeof $$); $$.v = -1; $$.word = $1.s; $$.loc = to_loc(ctx, @1); }
  ;

attrs
  : %empty                    { $$.head = $$.tail = NULL; }
  | attrs attr                { $$ = $1; if ($$.tail) $$.tail->next = $2; else $$.head = $2; $$.tail = $2; }
  ;

attr
  : KEY '=' value             { $$ = NEW(IrAttr); OOM_IF_NULL($$); $$->key = $1.s; $$->loc = to_loc(ctx, @1);
                                $$->has_value = 1; $$->v = $3; }
  | ID                        { $$ = NEW(IrAttr); OOM_IF_NULL($$); $$->key = $1.s; $$->loc = to_loc(ctx, @1); }
  ;

value
  : INT                       { memset(&$$, 0, sizeof $$); $$.kind = IRV_INT; $$.tok = $1; $$.loc = to_loc(ctx, @1); }
  | FLOAT                     { memset(&$$, 0, sizeof $$); $$.kind = IRV_FLOAT; $$.tok = $1; $$.loc = to_loc(ctx, @1); }
  | STRING                    { memset(&$$, 0, sizeof $$); $$.kind = IRV_STRING; $$.tok = $1; $$.loc = to_loc(ctx, @1); }
  | '?'                       { memset(&$$, 0, sizeof $$); $$.kind = IRV_UNKNOWN; $$.loc = to_loc(ctx, @1); }
  | names                     { memset(&$$, 0, sizeof $$); $$.kind = $1.n == 1 ? IRV_WORD : IRV_NAMES; $$.tok = $1.head->tok;
                                $$.loc = to_loc(ctx, @1); $$.nnames = $1.n;
                                $$.names = arena_alloc(ctx->arena, (size_t)$1.n * sizeof *$$.names);
                                $$.name_locs = arena_alloc(ctx->arena, (size_t)$1.n * sizeof *$$.name_locs);
                                OOM_IF_NULL($$.names); OOM_IF_NULL($$.name_locs);
                                int k = 0;
                                for (IrString *s = $1.head; s; s = s->next, k++) { $$.names[k] = s->tok.s; $$.name_locs[k] = s->loc; } }
  ;

names
  : ID                        { IrString *s = new_string(ctx, $1, @1); OOM_IF_NULL(s); $$.head = $$.tail = s; $$.n = 1; }
  | names ',' ID              { IrString *s = new_string(ctx, $3, @3); OOM_IF_NULL(s); $$ = $1;
                                $$.tail->next = s; $$.tail = s; $$.n++; }
  ;

weights_line
  : KW_WEIGHTS NL             { ctx->doc.has_weights = 1; ctx->doc.weights_loc = to_loc(ctx, @1); }
  | KW_WEIGHTS STRING NL      { ctx->doc.has_weights = 1; ctx->doc.weights_loc = to_loc(ctx, @1);
                                ctx->doc.external_file = new_string(ctx, $2, @2); OOM_IF_NULL(ctx->doc.external_file); }
  ;

tensor_lines
  : %empty
  | tensor_lines tensor_line
  ;

tensor_line
  : tensor_head NL            { IrTensorLine **p = &ctx->doc.tensors; while (*p) p = &(*p)->next; *p = $1; }
  | error NL                  { yyerrok; }
  ;

tensor_head
  : name shape NOT_LOADED     { $$ = NEW(IrTensorLine); OOM_IF_NULL($$); $$->name = $1.s; $$->loc = to_loc(ctx, @1);
                                $$->shape = $2; $$->not_loaded = 1; }
  | name shape ID attrs       { $$ = NEW(IrTensorLine); OOM_IF_NULL($$); $$->name = $1.s; $$->loc = to_loc(ctx, @1);
                                $$->shape = $2; $$->format = $3.s; $$->format_loc = to_loc(ctx, @3); $$->attrs = $4.head; }
  | name shape ID attrs KW_EXTERNAL
                              { $$ = NEW(IrTensorLine); OOM_IF_NULL($$); $$->name = $1.s; $$->loc = to_loc(ctx, @1);
                                $$->shape = $2; $$->format = $3.s; $$->format_loc = to_loc(ctx, @3); $$->attrs = $4.head;
                                $$->external = 1; $$->tail_loc = to_loc(ctx, @5); }
  | name shape ID attrs body  { $$ = NEW(IrTensorLine); OOM_IF_NULL($$); $$->name = $1.s; $$->loc = to_loc(ctx, @1);
                                $$->shape = $2; $$->format = $3.s; $$->format_loc = to_loc(ctx, @3); $$->attrs = $4.head;
                                $$->has_body = 1; $$->tail_loc = to_loc(ctx, @5); $$->fields = $5.head; }
  ;

name
  : ID | STRING | KW_MODEL | KW_WEIGHTS | KW_PIPELINE | KW_VOCAB | KW_EXTERNAL
  ;

body
  : '{' opt_nl '}'            { $$.head = $$.tail = NULL; }
  | '{' opt_nl fields opt_nl '}'
                              { $$ = $3; }
  ;

opt_nl
  : %empty
  | NL
  ;

fields
  : field                     { $$.head = $$.tail = $1; }
  | fields NL field           { $$ = $1; if ($3) { if ($$.tail) $$.tail->next = $3; else $$.head = $3; $$.tail = $3; } }
  ;

field
  : field_key '=' array       { $$ = NEW(IrField); OOM_IF_NULL($$);
                                $$->key = $1.s; $$->loc = to_loc(ctx, @1); $$->a = $3; }
  | error                     { $$ = NULL; }
  ;

field_key
  : ID | KEY                  /* `values = [` as printed, or `values=[` */
  ;

array
  : '[' ']'                   { $$ = ir_array_new(ctx); OOM_IF_NULL($$); $$->loc = to_loc(ctx, @$); }
  | '[' nums ']'              { $$ = $2; $$->depth = 1; $$->loc = to_loc(ctx, @$); }
  | '[' rows ']'              { $$ = $2; $$->loc = to_loc(ctx, @$); }
  ;

rows
  : row                       { $$ = ir_array_new(ctx); OOM_IF_NULL($$);
                                if (ir_array_add_row(ctx, $$, $1)) OOM_IF_NULL(NULL); }
  | rows ',' row              { $$ = $1; if (ir_array_add_row(ctx, $$, $3)) OOM_IF_NULL(NULL); }
  ;

row
  : '[' ']'                   { $$ = ir_array_new(ctx); OOM_IF_NULL($$); $$->loc = to_loc(ctx, @$); }
  | '[' nums ']'              { $$ = $2; $$->loc = to_loc(ctx, @$); }
  ;

nums
  : num                       { $$ = ir_array_new(ctx); OOM_IF_NULL($$); if (ir_array_push($$, &$1)) OOM_IF_NULL(NULL); }
  | nums ',' num              { $$ = $1; if (ir_array_push($$, &$3)) OOM_IF_NULL(NULL); }
  ;

num
  : INT                       { $$ = to_num(&$1, @1, IRN_INT); }
  | FLOAT                     { $$ = to_num(&$1, @1, IRN_FLOAT); }
  | '_'                       { IrTok none; memset(&none, 0, sizeof none); $$ = to_num(&none, @1, IRN_EMPTY); }
  ;

%%

/* ---- arrays --------------------------------------------------------------------------------------- */

IrArray *ir_array_new(IrParseCtx *ctx) {
  IrArray *a = lx_calloc(1, sizeof *a);
  if (!a) return NULL;
  a->next = ctx->arrays;
  if (ctx->arrays) ctx->arrays->prev = a;
  ctx->arrays = a;
  return a;
}

int ir_array_push(IrArray *a, const IrNum *x) {
  if (a->n == a->cap) {
    size_t cap = a->cap ? a->cap * 2 : 16;
    IrNum *nv = lx_realloc(a->v, cap * sizeof *nv);
    if (!nv) return -1;
    a->v = nv;
    a->cap = cap;
  }
  a->v[a->n++] = *x;
  return 0;
}

int ir_array_add_row(IrParseCtx *ctx, IrArray *a, IrArray *row) {
  int st = 0;
  if (a->nrows == a->rcap) {
    size_t cap = a->rcap ? a->rcap * 2 : 8;
    IrRow *nr = lx_realloc(a->rows, cap * sizeof *nr);
    if (!nr) st = -1;
    else {
      a->rows = nr;
      a->rcap = cap;
    }
  }
  if (!st) {
    IrRow *r = &a->rows[a->nrows];
    r->start = a->n;
    r->count = row->n;
    r->loc = row->loc;
    for (size_t i = 0; i < row->n && !st; i++) st = ir_array_push(a, &row->v[i]);
    if (!st) a->nrows++;
  }
  a->depth = 2;
  ir_array_free(ctx, row);
  return st;
}

void ir_array_free(IrParseCtx *ctx, IrArray *a) {
  if (!a) return;
  if (a->prev) a->prev->next = a->next;
  else ctx->arrays = a->next;
  if (a->next) a->next->prev = a->prev;
  lx_free(a->v);
  lx_free(a->rows);
  lx_free(a);
}

void ir_parse_free_arrays(IrParseCtx *ctx) {
  while (ctx->arrays) ir_array_free(ctx, ctx->arrays);
}

/* ---- running the parser --------------------------------------------------------------------------- */

/* Flex's entry points (ir_lexer.c), declared here to keep the generated lexer header out of this file. */
typedef struct yy_buffer_state *YY_BUFFER_STATE;
int irp_lex_init_extra(IrParseCtx *extra, yyscan_t *scanner);
int irp_lex_destroy(yyscan_t scanner);
YY_BUFFER_STATE irp__scan_bytes(const char *bytes, int len, yyscan_t scanner);

int ir_parse(IrParseCtx *ctx, const char *text, size_t len) {
  if (len > (size_t)1 << 30) {
    diag_error(ctx->diag, (SrcLoc){ctx->file, 0, 0, 0, 0}, "input is larger than 1 GiB");
    return LSTMC_ERR_PARSE;
  }
  ctx->text = text;
  ctx->line = ctx->col = 1;
  jmp_buf oom;
  ctx->allocs.oom = &oom;
  if (setjmp(oom)) return lx_nomem("parsing the IR"); /* the lexer freed its blocks (ir_lexer.l) */
  yyscan_t scanner;
  if (irp_lex_init_extra(ctx, &scanner)) return lx_nomem("starting the IR lexer");
  irp__scan_bytes(text, (int)len, scanner);
  int before = ctx->diag->nerrors;
  int rc = irp_parse(scanner, ctx);
  irp_lex_destroy(scanner);
  if (ctx->arena->failed) return lx_nomem("parsing the IR");
  if (rc != 0 && ctx->diag->nerrors == before)
    diag_error(ctx->diag, (SrcLoc){ctx->file, 0, 0, 0, 0}, "syntax error");
  return ctx->diag->nerrors > before ? diag_status(ctx->diag) : 0;
}
