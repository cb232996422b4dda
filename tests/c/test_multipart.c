/* multipart/form-data uploads: fields and files posted to the server's
 * /multipart-echo, which parses them with Python's email package (an
 * independent parser) and answers what it found, part by part; names with
 * quotes, CR/LF, a backslash and non-ASCII; a 307 that resends the form
 * (files reopened); a file that changed size fails the send; the same
 * through the multi. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support.h"

static char dir[] = "/tmp/reqivo-mp-XXXXXX";
static char big_path[128], bin_path[128], empty_path[128];
static char big_text[100000];
enum { BIG_LEN = sizeof big_text };

/* The awkward name: a quote, CR, LF, a backslash and UTF-8 (é). */
static const char ODD_NAME[] = "q\"\r\n\\\xc3\xa9";
/* What the parser must see: ", CR, LF percent-encoded, the backslash kept. */
static const char ODD_SEEN[] = "q%22%0D%0A\\\xc3\xa9";
static const char BIG_FILE[] = "data \xc3\xa9 \"x\".txt";

static void write_file(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  CHECK(f != NULL);
  if (f == NULL) return;
  CHECK_EQ(fwrite(data, 1, len, f), len);
  fclose(f);
}

static void make_files(void) {
  CHECK(mkdtemp(dir) != NULL);
  for (size_t i = 0; i < BIG_LEN; i++) {
    big_text[i] = (char)('a' + (i * 7 + i / 26) % 26);
  }
  snprintf(big_path, sizeof big_path, "%s/%s", dir, BIG_FILE);
  snprintf(bin_path, sizeof bin_path, "%s/bytes.bin", dir);
  snprintf(empty_path, sizeof empty_path, "%s/empty", dir);
  write_file(big_path, big_text, BIG_LEN);
  unsigned char all[256];
  for (int i = 0; i < 256; i++) all[i] = (unsigned char)i;
  write_file(bin_path, all, sizeof all);
  write_file(empty_path, "", 0);
}

static reqivo_multipart *make_form(void) {
  reqivo_error err;
  reqivo_multipart *mp = reqivo_multipart_new();
  CHECK(mp != NULL);
  CHECK_CODE(reqivo_multipart_add_field(mp, "plain", 5, "hello", 5, &err), REQIVO_OK);
  CHECK_CODE(reqivo_multipart_add_field(mp, ODD_NAME, strlen(ODD_NAME), "v\r\n--x", 6, &err),
             REQIVO_OK);
  CHECK_CODE(reqivo_multipart_add_file(mp, "doc", 3, big_path, strlen(big_path), "text/plain; charset=utf-8",
                                       25, &err),
             REQIVO_OK);
  CHECK_CODE(reqivo_multipart_add_file(mp, "bin", 3, bin_path, strlen(bin_path), NULL, 0, &err),
             REQIVO_OK);
  CHECK_CODE(reqivo_multipart_add_file(mp, "none", 4, empty_path, strlen(empty_path), "", 0, &err),
             REQIVO_OK);
  CHECK_OK(err);
  return mp;
}

/* The JSON string at `ptr` in the response, in buf (NUL-terminated). */
static const char *json_str(const reqivo_response *r, const char *ptr, char *buf, size_t cap) {
  reqivo_error err;
  reqivo_json_value v = {.struct_size = sizeof v};
  size_t need = 0;
  buf[0] = 0;
  if (reqivo_response_json(r, ptr, strlen(ptr), &v, &err) != REQIVO_OK ||
      reqivo_json_string(&v, buf, cap, &need, &err) != REQIVO_OK) {
    CHECKF(0, "no string at %s: %s", ptr, err.message);
  }
  return buf;
}

static int64_t json_int(const reqivo_response *r, const char *ptr) {
  reqivo_error err;
  reqivo_json_value v = {.struct_size = sizeof v};
  CHECKF(reqivo_response_json(r, ptr, strlen(ptr), &v, &err) == REQIVO_OK, "%s: %s", ptr,
         err.message);
  return v.type == REQIVO_JSON_INTEGER ? v.integer : -1;
}

static int json_is(const reqivo_response *r, const char *ptr, uint32_t type) {
  reqivo_error err;
  reqivo_json_value v = {.struct_size = sizeof v};
  return reqivo_response_json(r, ptr, strlen(ptr), &v, &err) == REQIVO_OK && v.type == type;
}

static int json_bool(const reqivo_response *r, const char *ptr, int want) {
  reqivo_error err;
  reqivo_json_value v = {.struct_size = sizeof v};
  return reqivo_response_json(r, ptr, strlen(ptr), &v, &err) == REQIVO_OK &&
         v.type == REQIVO_JSON_BOOL && v.boolean == want;
}

/* Checks /multipart-echo's summary of make_form's upload. */
static void check_echo(const reqivo_response *r) {
  CHECK(r != NULL && r->status == 200);
  if (r == NULL || r->status != 200) return;
  static char buf[BIG_LEN + 1];
  CHECK_CONTAINS(json_str(r, "/content_type", buf, sizeof buf), "multipart/form-data; boundary=");
  CHECK(json_bool(r, "/length_matches", 1));
  CHECK_EQ(json_int(r, "/defects"), 0);
  CHECK(json_is(r, "/parts/4", REQIVO_JSON_OBJECT));
  CHECK(!json_is(r, "/parts/5", REQIVO_JSON_OBJECT));

  CHECK_STR_EQ(json_str(r, "/parts/0/name", buf, sizeof buf), "plain");
  CHECK_STR_EQ(json_str(r, "/parts/0/text", buf, sizeof buf), "hello");
  CHECK(json_is(r, "/parts/0/filename", REQIVO_JSON_NULL));
  CHECK(json_bool(r, "/parts/0/explicit_type", 0));

  CHECK_STR_EQ(json_str(r, "/parts/1/name", buf, sizeof buf), ODD_SEEN);
  CHECK_STR_EQ(json_str(r, "/parts/1/text", buf, sizeof buf), "v\r\n--x");

  CHECK_STR_EQ(json_str(r, "/parts/2/name", buf, sizeof buf), "doc");
  CHECK_STR_EQ(json_str(r, "/parts/2/filename", buf, sizeof buf), "data \xc3\xa9 %22x%22.txt");
  CHECK_STR_EQ(json_str(r, "/parts/2/content_type", buf, sizeof buf), "text/plain");
  CHECK_EQ(json_int(r, "/parts/2/size"), BIG_LEN);
  json_str(r, "/parts/2/text", buf, sizeof buf);
  CHECK(memcmp(buf, big_text, BIG_LEN) == 0);

  CHECK_STR_EQ(json_str(r, "/parts/3/filename", buf, sizeof buf), "bytes.bin");
  CHECK_STR_EQ(json_str(r, "/parts/3/content_type", buf, sizeof buf), "application/octet-stream");
  CHECK_EQ(json_int(r, "/parts/3/size"), 256);
  CHECK_STR_EQ(json_str(r, "/parts/3/hex", buf, sizeof buf),
               "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
               "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f");

  CHECK_STR_EQ(json_str(r, "/parts/4/filename", buf, sizeof buf), "empty");
  CHECK_STR_EQ(json_str(r, "/parts/4/content_type", buf, sizeof buf), "application/octet-stream");
  CHECK_EQ(json_int(r, "/parts/4/size"), 0);
}

static reqivo_request *form_request(const char *path) {
  reqivo_error err;
  reqivo_request *r = request_to("POST", path, &err);
  CHECK(r != NULL);
  reqivo_multipart *mp = make_form();
  CHECK_CODE(reqivo_request_set_multipart(r, mp, &err), REQIVO_OK);
  /* The request holds its own reference: the form may go now. */
  reqivo_multipart_free(mp);
  return r;
}

static void test_blocking(reqivo_session *s) {
  reqivo_error err;
  reqivo_request *r = form_request("/multipart-echo");
  const reqivo_response *resp = reqivo_session_send(s, r, NULL, &err);
  CHECK_OK(err);
  check_echo(resp);
  reqivo_response_free(resp);
  /* Sent again from the start. */
  resp = reqivo_session_send(s, r, NULL, &err);
  check_echo(resp);
  reqivo_response_free(resp);
  reqivo_request_free(r);

  /* A 307 resends the form: its files are read again. */
  r = form_request("/multipart-307");
  resp = reqivo_session_send(s, r, NULL, &err);
  CHECK_OK(err);
  CHECK(resp != NULL && resp->redirect_count == 1);
  CHECK(resp != NULL && (resp->flags & REQIVO_RESPONSE_REDIRECT_NOT_FOLLOWED) == 0);
  check_echo(resp);
  reqivo_response_free(resp);
  reqivo_request_free(r);
}

static void test_multi(reqivo_session *s) {
  reqivo_error err;
  reqivo_multi *m = reqivo_multi_new(&err);
  CHECK_OK(err);
  for (uintptr_t i = 0; i < 3; i++) {
    reqivo_request *r = form_request(i == 2 ? "/multipart-307" : "/multipart-echo");
    CHECK_EQ(reqivo_multi_add(m, s, r, NULL, (void *)i, &err), 0);
    reqivo_request_free(r);
  }
  int got = 0;
  double until = now_ms() + 20000;
  while (got < 3 && now_ms() < until) {
    CHECK_EQ(reqivo_multi_poll(m, 100, &err), 0);
    reqivo_multi_done d = {.struct_size = sizeof d};
    while (reqivo_multi_next(m, &d)) {
      got++;
      CHECKF(d.error.code == 0, "transfer %d: %s", (int)(uintptr_t)d.user_data, d.error.message);
      check_echo(d.response);
      CHECK(d.response != NULL && d.response->redirect_count == ((uintptr_t)d.user_data == 2));
      reqivo_response_free(d.response);
    }
  }
  CHECK_EQ(got, 3);
  reqivo_multi_free(m);
}

/* A file whose size changed since it was added fails the send with
 * REQIVO_ERR_IO naming it, blocking and in the multi; the session goes on. */
static void test_changed_file(reqivo_session *s) {
  reqivo_error err;
  char path[160];
  snprintf(path, sizeof path, "%s/changing", dir);
  write_file(path, "12345", 5);
  reqivo_multipart *mp = reqivo_multipart_new();
  CHECK_CODE(reqivo_multipart_add_file(mp, "f", 1, path, strlen(path), NULL, 0, &err), REQIVO_OK);
  reqivo_request *r = request_to("POST", "/multipart-echo", &err);
  CHECK_CODE(reqivo_request_set_multipart(r, mp, &err), REQIVO_OK);
  write_file(path, "123456789", 9);
  const reqivo_response *resp = reqivo_session_send(s, r, NULL, &err);
  CHECK(resp == NULL);
  CHECK_ERR(err, REQIVO_ERR_IO, "changing");

  reqivo_multi *m = reqivo_multi_new(&err);
  CHECK_EQ(reqivo_multi_add(m, s, r, NULL, NULL, &err), 0);
  reqivo_multi_done d = {.struct_size = sizeof d};
  double until = now_ms() + 10000;
  int done = 0;
  while (!done && now_ms() < until) {
    CHECK_EQ(reqivo_multi_poll(m, 100, &err), 0);
    done = reqivo_multi_next(m, &d);
  }
  CHECK(done && d.response == NULL);
  CHECK_ERR(d.error, REQIVO_ERR_IO, "changed from 5 bytes");
  reqivo_multi_free(m);

  /* Removed: the same. */
  unlink(path);
  resp = reqivo_session_send(s, r, NULL, &err);
  CHECK(resp == NULL);
  CHECK_ERR(err, REQIVO_ERR_IO, "changing");
  reqivo_request_free(r);
  reqivo_multipart_free(mp);

  resp = get(s, "/ok", &err);
  CHECK(resp != NULL && resp->status == 200);
  reqivo_response_free(resp);
}

int main(int argc, char **argv) {
  test_init(argc, argv);
  make_files();
  reqivo_error err;
  reqivo_session *s = reqivo_session_new(NULL, &err);
  test_blocking(s);
  test_multi(s);
  test_changed_file(s);
  reqivo_session_free(s);
  unlink(big_path);
  unlink(bin_path);
  unlink(empty_path);
  rmdir(dir);
  return check_finish("test_multipart");
}
