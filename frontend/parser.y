/* The .lstm grammar (Bison, pure, with locations). Two entry points share it: a whole spec, and a pass
 * pipeline alone (for `--passes` and the `passes "…"` string); the lexer's first token picks one.
 *
 *   spec      = stmt*
 *   stmt      = WORD value* ';' | WORD value* '{' stmt* '}'
 *             | PIPEWORD value* ';' | PIPEWORD value* '{' pipeline '}' | ';'
 *   value     = INT | FLOAT | STRING | WORD            (separated by spaces or commas)
 *   pipeline  = pass (',' pass)*
 *   pass      = WORD | WORD '{' [opt (',' opt)*] '}'
 *   opt       = WORD '=' value
 *
 * Error recovery: a bad statement is skipped up to its ';' or to the '}' that closes its block, so that
 * one run reports every independent error. All values live in the parse's arena (no %destructor needed:
 * a discarded value is freed with the arena). */
%define api.pure full
%define parse.error custom
%locations
%lex-param {yyscan_t scanner}
%parse-param {yyscan_t scanner} {ParseCtx *ctx}

%code requires {
#include "frontend/parse_ctx.h"
typedef void *yyscan_t;
}

%code provides {
int yylex(YYSTYPE *lval, YYLTYPE *lloc, yyscan_t scanner);
}

%code {
#include <setjmp.h>
#include <string.h>

/* The parser stack never grows past its initial size, so Bison never calls malloc (a longjmp out of the
 * lexer on allocation failure would leak it). 200 levels is far beyond any spec's nesting; deeper input
 * ends with "memory exhausted", reported as nesting too deep. */
#define YYMAXDEPTH 200

#include "support/alloc.h"

static SrcLoc to_loc(const ParseCtx *c, YYLTYPE l) {
  SrcLoc s = {c->file, l.first_line, l.first_column, l.last_line, l.last_column};
  return s;
}

static void yyerror(YYLTYPE *loc, yyscan_t scanner, ParseCtx *ctx, const char *msg) {
  (void)scanner;
  /* Bison's only own message is its stack limit (see YYMAXDEPTH). */
  if (!strcmp(msg, "memory exhausted"))
    diag_error(ctx->diag, to_loc(ctx, *loc), "blocks are nested too deeply (more than %d levels)", YYMAXDEPTH / 2);
  else
    diag_error(ctx->diag, to_loc(ctx, *loc), "%s", msg);
}

#define NEW(T) ((T *)arena_alloc(ctx->arena, sizeof(T)))
#define OOM_IF_NULL(p) do { if (!(p)) { yyerror(&yylloc, scanner, ctx, "out of memory"); YYABORT; } } while (0)
}

%union {
  AstValue *val;
  struct { AstValue *head, *tail; int n; } vals;
  AstStmt *stmt;
  struct { AstStmt *head, *tail; } stmts;
  AstPass *pass;
  struct { AstPass *head, *tail; int n; } passes;
  AstPassOpt *opt;
  struct { AstPassOpt *head, *tail; } opts;
  AstPipeline *pipeline;
}

%token START_SPEC START_PIPELINE
%token <val> WORD "word" PIPEWORD "pipeline word" STRING "string" INT "integer" FLOAT "number"
%type <val> value
%type <vals> values vlist
%type <stmt> stmt
%type <stmts> stmts block
%type <pass> pass
%type <passes> passes
%type <opt> opt
%type <opts> opts
%type <pipeline> pipeline

%%

top
  : START_SPEC stmts          { ctx->stmts = $2.head; }
  | START_PIPELINE pipeline   { ctx->pipeline = $2; }
  ;

stmts
  : %empty                    { $$.head = $$.tail = NULL; }
  | stmts stmt                { $$ = $1;
                                if ($2) { if ($$.tail) $$.tail->next = $2; else $$.head = $2; $$.tail = $2; } }
  ;

stmt
  : WORD values ';'           { $$ = NEW(AstStmt); OOM_IF_NULL($$); $$->word = $1->s; $$->loc = $1->loc;
                                $$->values = $2.head; $$->nvalues = $2.n; }
  | WORD values block         { $$ = NEW(AstStmt); OOM_IF_NULL($$); $$->word = $1->s; $$->loc = $1->loc;
                                $$->values = $2.head; $$->nvalues = $2.n; $$->has_block = 1;
                                $$->body = $3.head; $$->block_loc = to_loc(ctx, @3); }
  | PIPEWORD values ';'       { $$ = NEW(AstStmt); OOM_IF_NULL($$); $$->word = $1->s; $$->loc = $1->loc;
                                $$->values = $2.head; $$->nvalues = $2.n; }
  | PIPEWORD values '{' pipeline '}'
                              { $$ = NEW(AstStmt); OOM_IF_NULL($$); $$->word = $1->s; $$->loc = $1->loc;
                                $$->values = $2.head; $$->nvalues = $2.n; $$->has_block = 1;
                                $$->pipeline = $4; $$->block_loc = to_loc(ctx, @3); }
  | PIPEWORD values '{' error '}'  { $$ = NULL; }
  | ';'                       { $$ = NULL; }
  | error ';'                 { $$ = NULL; yyerrok; }
  ;

block
  : '{' stmts '}'             { $$ = $2; }
  | '{' stmts error '}'       { $$ = $2; yyerrok; }
  ;

values
  : %empty                    { $$.head = $$.tail = NULL; $$.n = 0; }
  | vlist                     { $$ = $1; }
  ;

vlist
  : value                     { $$.head = $$.tail = $1; $$.n = 1; }
  | vlist value               { $$ = $1; $$.tail->next = $2; $$.tail = $2; $$.n++; }
  | vlist ',' value           { $$ = $1; $$.tail->next = $3; $$.tail = $3; $$.n++; }
  ;

value
  : INT | FLOAT | STRING | WORD
  ;

pipeline
  : %empty                    { $$ = NEW(AstPipeline); OOM_IF_NULL($$); $$->loc = to_loc(ctx, @$); }
  | passes                    { $$ = NEW(AstPipeline); OOM_IF_NULL($$); $$->passes = $1.head; $$->npasses = $1.n;
                                $$->loc = to_loc(ctx, @1); }
  ;

passes
  : pass                      { $$.head = $$.tail = $1; $$.n = 1; }
  | passes ',' pass           { $$ = $1; $$.tail->next = $3; $$.tail = $3; $$.n++; }
  ;

pass
  : WORD                      { $$ = NEW(AstPass); OOM_IF_NULL($$); $$->name = $1->s; $$->loc = $1->loc; }
  | WORD '{' '}'              { $$ = NEW(AstPass); OOM_IF_NULL($$); $$->name = $1->s; $$->loc = $1->loc; }
  | WORD '{' opts '}'         { $$ = NEW(AstPass); OOM_IF_NULL($$); $$->name = $1->s; $$->loc = $1->loc;
                                $$->opts = $3.head; }
  ;

opts
  : opt                       { $$.head = $$.tail = $1; }
  | opts ',' opt              { $$ = $1; $$.tail->next = $3; $$.tail = $3; }
  ;

opt
  : WORD '=' value            { $$ = NEW(AstPassOpt); OOM_IF_NULL($$); $$->key = $1->s; $$->loc = $1->loc;
                                $$->value = $3; }
  ;

%%

/* Names of tokens in messages: the token's own text where it has one. */
static void describe_token(const ParseCtx *ctx, yysymbol_kind_t t, char *buf, size_t n) {
  switch (t) {
  case YYSYMBOL_YYEOF: snprintf(buf, n, "end of input"); break;
  case YYSYMBOL_YYUNDEF: snprintf(buf, n, "input"); break;
  case YYSYMBOL_WORD: case YYSYMBOL_PIPEWORD:
    snprintf(buf, n, "'%s'", ctx->last_text ? ctx->last_text : "?"); break;
  case YYSYMBOL_INT: case YYSYMBOL_FLOAT:
    snprintf(buf, n, "number %s", ctx->last_text ? ctx->last_text : "?"); break;
  case YYSYMBOL_STRING: snprintf(buf, n, "a string"); break;
  default: snprintf(buf, n, "%s", yysymbol_name(t)); break;
  }
}

static int yyreport_syntax_error(const yypcontext_t *pctx, yyscan_t scanner, ParseCtx *ctx) {
  (void)scanner;
  enum { MAX_EXPECTED = 8 };
  yysymbol_kind_t expected[MAX_EXPECTED];
  int n = yypcontext_expected_tokens(pctx, expected, MAX_EXPECTED);
  yysymbol_kind_t tok = yypcontext_token(pctx);
  SrcLoc at = to_loc(ctx, *yypcontext_location(pctx));
  /* The two mistakes that most often end a parse get messages of their own. */
  if (tok == YYSYMBOL_YYEOF && ctx->nbraces > 0) {
    int k = ctx->nbraces <= 64 ? ctx->nbraces - 1 : 63;
    diag_error(ctx->diag, at, "unexpected end of input: a '{' is not closed");
    diag_note(ctx->diag, ctx->braces[k], "the '{' opened here");
    return 0;
  }
  int wants_close = 0;
  for (int i = 0; i < n; i++) wants_close |= expected[i] == YYTRANSLATE('}');
  if (tok == YYTRANSLATE('}') && !wants_close && ctx->nbraces == 0) {
    diag_error(ctx->diag, at, "syntax error: unexpected '}' with no block open");
    return 0;
  }
  char got[128];
  describe_token(ctx, tok, got, sizeof got);
  /* "pipeline word" (passes, prune_at) is a grammar detail: users see words. */
  const char *names[MAX_EXPECTED];
  int m = 0, has_word = 0;
  for (int i = 0; i < n; i++) {
    if (expected[i] == YYSYMBOL_PIPEWORD || expected[i] == YYSYMBOL_WORD) {
      if (has_word++) continue;
      names[m++] = "a word";
    } else {
      names[m++] = expected[i] == YYSYMBOL_YYEOF ? "end of input" : yysymbol_name(expected[i]);
    }
  }
  char msg[512];
  int len = snprintf(msg, sizeof msg, "syntax error: unexpected %s", got);
  /* Lists of expected tokens are useful when short; past 4 alternatives they are noise. */
  if (m > 0 && m <= 4) {
    len += snprintf(msg + len, sizeof msg - (size_t)len, ", expected ");
    for (int i = 0; i < m && len < (int)sizeof msg; i++)
      len += snprintf(msg + len, sizeof msg - (size_t)len, "%s%s", i == 0 ? "" : i == m - 1 ? " or " : ", ", names[i]);
  }
  diag_error(ctx->diag, at, "%s", msg);
  return 0;
}

/* Flex's entry points (lexer.c); declared here to keep the generated lexer header out of this file. */
typedef struct yy_buffer_state *YY_BUFFER_STATE;
int yylex_init_extra(ParseCtx *extra, yyscan_t *scanner);
int yylex_destroy(yyscan_t scanner);
YY_BUFFER_STATE yy_scan_bytes(const char *bytes, int len, yyscan_t scanner);

static int run_parser(ParseCtx *ctx, const char *text, size_t len) {
  if (len > (size_t)1 << 30) {
    diag_error(ctx->diag, (SrcLoc){ctx->file, 0, 0, 0, 0}, "input is larger than 1 GiB");
    return LSTMC_ERR_PARSE;
  }
  jmp_buf oom;
  ctx->allocs.oom = &oom;
  if (setjmp(oom)) return lx_nomem("parsing"); /* the lexer freed its blocks (lexer.l) */
  yyscan_t scanner;
  if (yylex_init_extra(ctx, &scanner)) return lx_nomem("starting the lexer");
  yy_scan_bytes(text, (int)len, scanner);
  int before = ctx->diag->nerrors;
  int rc = yyparse(scanner, ctx);
  yylex_destroy(scanner);
  if (ctx->arena->failed) return lx_nomem("parsing");
  if (rc != 0 && ctx->diag->nerrors == before)
    diag_error(ctx->diag, (SrcLoc){ctx->file, 0, 0, 0, 0}, "syntax error");
  return ctx->diag->nerrors > before ? diag_status(ctx->diag) : 0;
}

int parse_spec_text(const char *file, const char *text, size_t len, Arena *arena, Diag *diag, AstStmt **out) {
  ParseCtx ctx = {0};
  ctx.arena = arena;
  ctx.diag = diag;
  ctx.file = file;
  ctx.start_token = START_SPEC;
  ctx.line = ctx.col = 1;
  int st = run_parser(&ctx, text, len);
  *out = ctx.stmts;
  return st;
}

int parse_pipeline_text(const char *text, size_t len, SrcLoc where, Arena *arena, Diag *diag, AstPipeline **out) {
  ParseCtx ctx = {0};
  ctx.arena = arena;
  ctx.diag = diag;
  ctx.file = where.file;
  ctx.start_token = START_PIPELINE;
  ctx.line = where.line > 0 ? where.line : 1;
  ctx.col = where.col > 0 ? where.col : 1;
  int st = run_parser(&ctx, text, len);
  *out = ctx.pipeline;
  return st;
}
