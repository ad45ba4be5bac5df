/* State shared by the reentrant lexer and parser of one parse (Flex's yyextra, Bison's %param). */
#ifndef LSTMC_FRONTEND_PARSE_CTX_H
#define LSTMC_FRONTEND_PARSE_CTX_H
#include "frontend/ast.h"
#include "frontend/diag.h"
#include "frontend/scan_alloc.h"

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
  ScanAllocs allocs; /* Flex's own blocks (frontend/scan_alloc.h) */
  AstStmt *stmts;     /* results */
  AstPipeline *pipeline;
} ParseCtx;

#endif
