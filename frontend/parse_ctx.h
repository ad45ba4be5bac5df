/* State shared by the reentrant lexer and parser of one parse (Flex's yyextra, Bison's %param). */
#ifndef LSTMC_FRONTEND_PARSE_CTX_H
#define LSTMC_FRONTEND_PARSE_CTX_H
#include <setjmp.h>

#include "frontend/ast.h"
#include "frontend/diag.h"

typedef struct ParseCtx {
  Arena *arena;
  Diag *diag;
  const char *file;
  int start_token;    /* first token handed to the parser: selects spec or pipeline grammar */
  int line, col;      /* the lexer's position: of the next character */
  int last_token;     /* for syntax-error messages */
  const char *last_text;
  SrcLoc braces[64];  /* open '{' (innermost last), for "not closed" messages */
  int nbraces;
  /* Flex's own allocations, so that an allocation failure can unwind with longjmp (flex would exit) and
   * free them all. */
  void *scanner_allocs[16];
  int nscanner_allocs;
  jmp_buf *oom;
  AstStmt *stmts;     /* results */
  AstPipeline *pipeline;
} ParseCtx;

#endif
