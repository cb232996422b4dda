/* Shared by the reqivo C clients (reqivo_bench.c, threads_reqivo.c,
 * multi_reqivo.c): trust the benchmark's CA (BENCH_CA, a PEM file) through
 * the TLS configuration API. */
#ifndef BENCH_REQIVO_CA_H
#define BENCH_REQIVO_CA_H

#include <stdio.h>
#include <stdlib.h>

#include "reqivo.h"

/* Sets on `s` a TLS configuration whose only root is BENCH_CA (nothing when
 * it is unset or unreadable). Returns NULL, or the step that failed with
 * `err` filled. */
static inline const char *bench_reqivo_trust_ca(reqivo_session *s, reqivo_error *err) {
  const char *ca = getenv("BENCH_CA");
  if (!ca) return NULL;
  FILE *f = fopen(ca, "rb");
  if (!f) return NULL;
  static char pem[65536];
  size_t len = fread(pem, 1, sizeof pem, f);
  fclose(f);
  reqivo_tls_config_builder *b = reqivo_tls_config_builder_new();
  if (reqivo_tls_config_builder_add_root_pem(b, (const uint8_t *)pem, len, err) != 0) return "add_root_pem";
  const reqivo_tls_config *cfg = reqivo_tls_config_builder_build(b, err);
  if (!cfg) return "tls build";
  reqivo_session_set_tls(s, cfg);
  reqivo_tls_config_free(cfg);
  return NULL;
}

#endif
