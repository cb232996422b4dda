/* Limits and timeouts from C: the default header limits accept what curl
 * accepts; a limit past its bytes is refused with the limit's name; every
 * limit and size field of every input struct takes 0, 1, huge and
 * UINT*_MAX without a crash, an abort or memory reserved in proportion to
 * the value; and a partly filled reqivo_timeout or reqivo_limits keeps the
 * defaults of the fields it leaves out (0 = default, REQIVO_NO_LIMIT = no
 * limit). */
#define _POSIX_C_SOURCE 200809L
#include "support.h"

/* GET /wide/FIELDS/VALUE_LEN through s. */
static const reqivo_response *get_wide(reqivo_session *s, int fields, int value_len,
                                       reqivo_error *err) {
  char path[64];
  snprintf(path, sizeof path, "/wide/%d/%d", fields, value_len);
  return get(s, path, err);
}

static void test_default_header_limits(void) {
  reqivo_error err;
  reqivo_session *s = reqivo_session_new(NULL, &err);
  /* 120 fields, a 10,000-byte value, a 99 KiB line: all accepted. */
  const int accepted[][2] = {{120, 1}, {1, 10000}, {1, 99 * 1024}};
  for (size_t i = 0; i < sizeof accepted / sizeof accepted[0]; i++) {
    const reqivo_response *r = get_wide(s, accepted[i][0], accepted[i][1], &err);
    CHECKF(r != NULL && r->status == 200 && body_is(r, "ok"), "%d fields of %d bytes: %s",
           accepted[i][0], accepted[i][1], err.message);
    if (r != NULL) {
      /* The fields, then Content-Length. */
      CHECK_EQ(r->header_count, (size_t)accepted[i][0] + 1);
      CHECK_EQ(r->headers[0].value.len, (size_t)accepted[i][1]);
    }
    reqivo_response_free(r);
  }
  /* One line past 100 KiB: refused, naming the limit. */
  const reqivo_response *r = get_wide(s, 1, 100 * 1024, &err);
  CHECK(r == NULL);
  CHECK_ERR(err, REQIVO_ERR_HEADER_TOO_LARGE, "max_line_bytes (102400)");
  /* Four 80 KiB lines: each fits, the head passes 300 KiB. */
  r = get_wide(s, 4, 80 * 1024, &err);
  CHECK(r == NULL);
  CHECK_ERR(err, REQIVO_ERR_HEADER_TOO_LARGE, "max_header_bytes (307200)");
  /* A limit the caller lowers names itself too. */
  reqivo_limits few = {.max_header_count = 50};
  CHECK_CODE(reqivo_session_set_limits(s, few), REQIVO_OK);
  r = get_wide(s, 120, 1, &err);
  CHECK(r == NULL);
  CHECK_ERR(err, REQIVO_ERR_TOO_MANY_HEADERS, "max_header_count (50)");
  reqivo_session_free(s);
}

/* Sends GET /wide/200/10 under l: succeeds, or fails with a limit error;
 * never anything else. */
static void send_under_limits(reqivo_limits l) {
  reqivo_error err;
  reqivo_session *s = reqivo_session_new(NULL, &err);
  CHECK_CODE(reqivo_session_set_limits(s, l), REQIVO_OK);
  const reqivo_response *r = get_wide(s, 200, 10, &err);
  int limit_error = err.code == REQIVO_ERR_HEADER_TOO_LARGE ||
                    err.code == REQIVO_ERR_TOO_MANY_HEADERS || err.code == REQIVO_ERR_BODY_TOO_LARGE;
  CHECKF(r != NULL || limit_error, "limits {%u, %u, %u, %llu}: %s: %s", l.max_line_bytes,
         l.max_header_bytes, l.max_header_count, (unsigned long long)l.max_body_bytes,
         reqivo_code_name(err.code), err.message);
  reqivo_response_free(r);
  reqivo_session_free(s);
}

static void test_sweep_limit_values(void) {
  const uint32_t u32s[] = {0, 1, 2, 1000000, 0x7fffffffu, UINT32_MAX - 1, UINT32_MAX};
  const uint64_t u64s[] = {0, 1, 1000000, (uint64_t)1 << 40, UINT64_MAX - 1, UINT64_MAX};
  const size_t n32 = sizeof u32s / sizeof u32s[0], n64 = sizeof u64s / sizeof u64s[0];
  /* reqivo_limits: each field through every value, the others default. */
  for (size_t i = 0; i < n32; i++) {
    send_under_limits((reqivo_limits){.max_line_bytes = u32s[i]});
    send_under_limits((reqivo_limits){.max_header_bytes = u32s[i]});
    send_under_limits((reqivo_limits){.max_header_count = u32s[i]});
    send_under_limits((reqivo_limits){u32s[i], u32s[i], u32s[i], u32s[i]});
  }
  for (size_t i = 0; i < n64; i++) {
    send_under_limits((reqivo_limits){.max_body_bytes = u64s[i]});
  }
  /* The huge count once made the first send reserve count x 32 bytes and
   * abort: now it parses 200 fields like any other limit. */
  reqivo_error err;
  reqivo_session *s = reqivo_session_new(NULL, &err);
  CHECK_CODE(reqivo_session_set_limits(s, (reqivo_limits){.max_header_count = UINT32_MAX}),
             REQIVO_OK);
  const reqivo_response *r = get_wide(s, 200, 10, &err);
  CHECKF(r != NULL && r->header_count == 201, "%s", err.message);
  reqivo_response_free(r);
  reqivo_session_free(s);

  /* reqivo_timeout: every field through every value, on a session and
   * on a request; /ok answers at once, so only a crash could fail. */
  for (size_t i = 0; i < n32; i++) {
    for (int field = 0; field < 5; field++) {
      uint32_t v[5] = {0, 0, 0, 0, 0};
      v[field] = u32s[i];
      reqivo_timeout t = {v[0], v[1], v[2], v[3], v[4]};
      s = reqivo_session_new(NULL, &err);
      CHECK_CODE(reqivo_session_set_timeout(s, t), REQIVO_OK);
      reqivo_request *req = request_to("GET", "/ok", &err);
      CHECK_CODE(reqivo_request_set_timeout(req, t), REQIVO_OK);
      r = reqivo_session_send(s, req, NULL, &err);
      /* 1 ms may pass before the answer: a timeout is a fair result. */
      CHECKF(r != NULL || reqivo_code_class(err.code) == 3000, "timeout field %d = %u: %s", field,
             u32s[i], err.message);
      reqivo_response_free(r);
      reqivo_request_free(req);
      reqivo_session_free(s);
    }
  }

  /* reqivo_pool_config: 0 is refused with a message; every other value
   * makes a pool that serves a request, reserving nothing up front. */
  for (size_t i = 0; i < n32; i++) {
    for (int field = 0; field < 3; field++) {
      reqivo_pool_config c = reqivo_pool_config_default();
      uint32_t *f = field == 0 ? &c.max_per_host : field == 1 ? &c.max_total : &c.max_idle_ms;
      *f = u32s[i];
      reqivo_pool *p = reqivo_pool_new(&c, &err);
      if (u32s[i] == 0 && field < 2) {
        CHECK(p == NULL);
        CHECK_ERR(err, REQIVO_ERR_INVALID_CONFIG, "at least 1");
        continue;
      }
      CHECKF(p != NULL, "pool field %d = %u: %s", field, u32s[i], err.message);
      s = reqivo_session_new(p, &err);
      r = get(s, "/ok", &err);
      CHECKF(r != NULL && body_is(r, "hello\n"), "pool field %d = %u: %s", field, u32s[i],
             err.message);
      reqivo_response_free(r);
      reqivo_session_free(s);
      reqivo_pool_free(p);
    }
  }

  /* struct_size of the structs that carry one: 0, 1 and UINT32_MAX. */
  const uint32_t sizes[] = {0, 1, UINT32_MAX};
  for (size_t i = 0; i < 3; i++) {
    reqivo_pool_config c = reqivo_pool_config_default();
    c.struct_size = sizes[i];
    reqivo_pool *p = reqivo_pool_new(&c, &err);
    /* Smaller than this version's is refused; larger is a newer caller's
     * struct, read up to the fields this version knows. */
    CHECK((p == NULL) == (sizes[i] < sizeof c));
    reqivo_pool_free(p);
  }
}

static void test_partly_filled_structs_keep_defaults(void) {
  reqivo_error err;
  /* A session given only a total timeout keeps the 5 s default read
   * timeout: a silent server ends the send by the read timeout, not by
   * the total one (0 once meant "no limit" here). */
  reqivo_session *s = reqivo_session_new(NULL, &err);
  CHECK_CODE(reqivo_session_set_timeout(s, (reqivo_timeout){.total_ms = 8000}), REQIVO_OK);
  double t0 = now_ms();
  const reqivo_response *r = get(s, "/stall", &err);
  double took = now_ms() - t0;
  CHECK(r == NULL);
  CHECK_ERR(err, REQIVO_ERR_TIMEOUT_READ, NULL);
  CHECKF(took >= 4500, "ended after %.0f ms, before the 5 s read default", took);

  /* A request that sets only its total keeps the session's 300 ms read. */
  CHECK_CODE(reqivo_session_set_timeout(s, (reqivo_timeout){.read_ms = 300}), REQIVO_OK);
  reqivo_request *req = request_to("GET", "/stall", &err);
  CHECK_CODE(reqivo_request_set_timeout(req, (reqivo_timeout){.total_ms = 8000}), REQIVO_OK);
  r = reqivo_session_send(s, req, NULL, &err);
  CHECK(r == NULL);
  CHECK_ERR(err, REQIVO_ERR_TIMEOUT_READ, NULL);
  /* REQIVO_NO_LIMIT lifts the session's read limit for this request:
   * the total one ends it. */
  CHECK_CODE(
      reqivo_request_set_timeout(req, (reqivo_timeout){.read_ms = REQIVO_NO_LIMIT, .total_ms = 600}),
      REQIVO_OK);
  r = reqivo_session_send(s, req, NULL, &err);
  CHECK(r == NULL);
  CHECK_ERR(err, REQIVO_ERR_TIMEOUT_TOTAL, NULL);
  reqivo_request_free(req);

  /* The defaults say which fields mean "no limit". */
  reqivo_timeout d = reqivo_timeout_default();
  CHECK_EQ(d.total_ms, REQIVO_NO_LIMIT);

  /* Limits given in part keep the rest: a lowered count, the default
   * line limit still accepts a 99 KiB line. */
  CHECK_CODE(reqivo_session_set_limits(s, (reqivo_limits){.max_header_count = 3}), REQIVO_OK);
  r = get_wide(s, 1, 99 * 1024, &err);
  CHECKF(r != NULL, "%s", err.message);
  reqivo_response_free(r);
  /* REQIVO_NO_LIMIT lifts the line limit. */
  CHECK_CODE(reqivo_session_set_limits(
                 s, (reqivo_limits){.max_line_bytes = REQIVO_NO_LIMIT,
                                    .max_header_bytes = REQIVO_NO_LIMIT}),
             REQIVO_OK);
  r = get_wide(s, 1, 400 * 1024, &err);
  CHECKF(r != NULL && r->headers[0].value.len == 400 * 1024, "%s", err.message);
  reqivo_response_free(r);
  reqivo_session_free(s);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  test_default_header_limits();
  test_sweep_limit_values();
  test_partly_filled_structs_keep_defaults();
  return check_finish("test_limits");
}
